import type { LoadTarget, LoadTransport } from './types';

const DEFAULT_PORTS: Record<LoadTransport, number> = { ws: 80, wss: 443, tcp: 9000, tls: 9000 };

/** Parses `ws://`, `wss://`, `tcp://` and `tls://` URLs; throws a one-line message otherwise. */
export function parseTarget(url: string): LoadTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid url ${JSON.stringify(url)}`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'ws' && scheme !== 'wss' && scheme !== 'tcp' && scheme !== 'tls') {
    throw new Error(`unsupported url scheme ${JSON.stringify(scheme)} (ws, wss, tcp or tls)`);
  }
  const transport: LoadTransport = scheme;
  let host = u.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') throw new Error(`url ${JSON.stringify(url)} has no host`);
  const port = u.port === '' ? DEFAULT_PORTS[transport] : Number(u.port);
  const path = (u.pathname === '' ? '/' : u.pathname) + u.search;
  return { transport, host, port, path, url };
}
