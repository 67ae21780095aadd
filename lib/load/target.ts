import type { LoadTarget, LoadTransport } from './types';

const DEFAULT_PORTS: Partial<Record<LoadTransport, number>> = { ws: 80, wss: 443 };

/**
 * Parses `ws://HOST[:PORT][/path]`, `wss://…`, `tcp://HOST:PORT` and
 * `tls://HOST:PORT`; throws an Error with a one-line message otherwise.
 */
export function parseTarget(url: string): LoadTarget {
  if (typeof url !== 'string' || url === '') throw new Error('no url given (ws://HOST:PORT or tcp://HOST:PORT)');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new Error(`url ${JSON.stringify(url)} has no scheme: write ws://HOST:PORT or tcp://HOST:PORT`);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`url ${JSON.stringify(url)} is not a valid URL (ws://HOST:PORT or tcp://HOST:PORT, port 1..65535)`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'ws' && scheme !== 'wss' && scheme !== 'tcp' && scheme !== 'tls') {
    throw new Error(`url ${JSON.stringify(url)} has an unsupported scheme ${JSON.stringify(scheme)} (ws, wss, tcp or tls)`);
  }
  const transport: LoadTransport = scheme;
  let host = u.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') throw new Error(`url ${JSON.stringify(url)} has no host`);
  if (u.username !== '' || u.password !== '') throw new Error(`url ${JSON.stringify(url)} holds credentials, which are not supported (send a header instead)`);
  let port: number;
  if (u.port === '') {
    const dflt = DEFAULT_PORTS[transport];
    // A ws:// URL written with its default port (ws://h:80) also has an empty u.port.
    if (dflt === undefined) throw new Error(`url ${JSON.stringify(url)} needs a port (${scheme}://HOST:PORT)`);
    port = dflt;
  } else {
    port = Number(u.port);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`url ${JSON.stringify(url)} has port ${port}; it must be 1..65535`);
  const pathPart = u.pathname === '' ? '/' : u.pathname;
  if ((transport === 'tcp' || transport === 'tls') && (pathPart !== '/' || u.search !== '' || u.hash !== '')) {
    throw new Error(`url ${JSON.stringify(url)} has a path or query; ${scheme}:// takes none`);
  }
  return { transport, host, port, path: pathPart + u.search, url };
}
