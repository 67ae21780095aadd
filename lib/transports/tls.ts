/**
 * TLS material for `--tls-cert/--tls-key/--tls-passphrase/--tls-ca`, checked
 * at start-up so a bad file or passphrase is a one-line error naming the
 * option, never a listener that fails every handshake.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors';
import type { ReactorOptions } from '../reactor/options';

export interface TlsMaterial {
  certFile: string;
  keyFile: string;
  caFile: string | null;
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  passphrase: string | undefined;
}

function read(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`${flag} ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function loadTls(o: ReactorOptions): TlsMaterial | null {
  if (o.tlsCert === null || o.tlsKey === null) return null;
  const m: TlsMaterial = {
    certFile: o.tlsCert,
    keyFile: o.tlsKey,
    caFile: o.tlsCa,
    cert: read('--tls-cert', o.tlsCert),
    key: read('--tls-key', o.tlsKey),
    ca: o.tlsCa === null ? undefined : read('--tls-ca', o.tlsCa),
    passphrase: o.tlsPassphrase ?? undefined,
  };
  try {
    createSecureContext({ cert: m.cert, key: m.key, ca: m.ca, passphrase: m.passphrase });
  } catch (e) {
    throw new ConfigError(`--tls-cert/--tls-key: not a usable certificate and key (${(e as Error).message.split('\n')[0]})`);
  }
  return m;
}
