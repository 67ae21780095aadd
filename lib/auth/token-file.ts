/**
 * The built-in token authenticator (`--auth-token-file`): one token per line,
 * blank lines and `#` comments ignored. Comparison is constant-time: both
 * sides are hashed to 32 bytes and compared with timingSafeEqual, so neither
 * the content nor the length of a guess leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors';
import type { Authenticator } from './authenticator';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export interface TokenIdentity {
  /** Line number of the matching token in the file (the token itself is never exposed). */
  tokenLine: number;
}

export function readTokenFile(file: string): Array<{ line: number; hash: Buffer }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--auth-token-file ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const tokens: Array<{ line: number; hash: Buffer }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    if (t && !t.startsWith('#')) tokens.push({ line: i + 1, hash: digest(t) });
  });
  if (tokens.length === 0) throw new ConfigError(`--auth-token-file ${file}: holds no token`);
  return tokens;
}

/** Checks a presented token against all tokens without an early exit. */
export function tokenMatcher(tokens: Array<{ line: number; hash: Buffer }>): (presented: string | null) => TokenIdentity | null {
  return (presented) => {
    if (presented === null) return null;
    const h = digest(presented);
    let found = 0;
    for (const t of tokens) if (timingSafeEqual(h, t.hash) && found === 0) found = t.line;
    return found === 0 ? null : { tokenLine: found };
  };
}

export function tokenFileAuthenticator(file: string): { authenticate: Authenticator; check: (token: string | null) => boolean } {
  const match = tokenMatcher(readTokenFile(file));
  return {
    authenticate: (req) => match(req.token),
    check: (token) => match(token) !== null,
  };
}
