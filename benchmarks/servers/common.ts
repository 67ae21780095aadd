/**
 * Shared bits of the baseline servers: argument parsing, the listening line,
 * and a plain MessagePack-RPC echo over msgpackr (no framework).
 */
import { Packr, Unpackr, type Options } from 'msgpackr';

export interface ServerArgs {
  host: string;
  port: number;
}

/** Exit 0 on SIGINT/SIGTERM (so `node --cpu-prof` writes its profile). */
function exitOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
}

export function parseServerArgs(argv: readonly string[]): ServerArgs {
  exitOnSignals();
  const args: ServerArgs = { host: '127.0.0.1', port: 9000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === '--port' && v !== undefined) {
      args.port = Number(v);
      i++;
    } else if (a === '--host' && v !== undefined) {
      args.host = v;
      i++;
    } else {
      process.stderr.write(`unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    process.stderr.write('--port must be 0..65535\n');
    process.exit(2);
  }
  return args;
}

export function logListening(port: number, extra: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ msg: 'listening', port, pid: process.pid, ...extra }) + '\n');
}

/** uWebSockets.js, refusing the package's pure-JS fallback (see shared/FACTS.md). */
export function loadUws(): typeof import('uWebSockets.js') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const uWS = require('uWebSockets.js') as typeof import('uWebSockets.js');
  if (typeof (uWS as unknown as { SSLApp?: unknown }).SSLApp !== 'function') {
    process.stderr.write('uWebSockets.js native binary did not load (pure-JS fallback); refusing to start\n');
    process.exit(1);
  }
  return uWS;
}

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
// int64AsType 'auto' exists in msgpackr 2.1 but is missing from its typings.
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' } as unknown as Options);

const METHOD_NOT_FOUND = { code: 'METHOD_NOT_FOUND', message: 'no such method' };
const INVALID_REQUEST = { code: 'INVALID_REQUEST', message: 'not a request' };

/**
 * Decodes every message in `bytes` (requests back to back) and returns all
 * responses as one buffer, or null when there is nothing to answer. Throws on
 * invalid MessagePack. Must be called while `bytes` is valid (bin results are
 * views into it; they are copied by pack before returning).
 */
export function answerFrame(bytes: Uint8Array): Buffer | null {
  const msgs = unpackr.unpackMultiple(bytes) as unknown[];
  let out: Buffer | null = null;
  let parts: Buffer[] | null = null;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (!Array.isArray(m) || m[0] !== 0) continue; // notifications and others: nothing to send
    const msgid = m[1] as number;
    let resp: unknown[];
    if (m.length === 4 && typeof msgid === 'number' && Array.isArray(m[3])) {
      resp = m[2] === 'echo' ? [1, msgid, null, (m[3] as unknown[])[0]] : [1, msgid, METHOD_NOT_FOUND, null];
    } else {
      resp = [1, msgid, INVALID_REQUEST, null];
    }
    // pack() returns a view into msgpackr's shared buffer, never overwritten later
    // (a full buffer is replaced, not reused), so the views can be concatenated.
    const enc = packr.pack(resp);
    if (out === null) {
      out = enc;
    } else {
      if (parts === null) parts = [out];
      parts.push(enc);
    }
  }
  if (parts !== null) return Buffer.concat(parts);
  return out;
}
