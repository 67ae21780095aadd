/** `ringloop/client` in browsers (the ESM bundle): the native WebSocket, `ws://` and `wss://`. */
import { RingloopClient } from './client';
import { parseUrl, resolveOptions, type ClientOptions } from './options';
import { browserTransport } from './transport-browser';

export * from './api';

/** Starts connecting and returns the client at once; calls wait (bounded by `maxQueued`) until it is open. Throws a TypeError for a bad url or option. */
export function connect(url: string | URL, options?: ClientOptions): RingloopClient {
  const u = parseUrl(url, ['ws:', 'wss:']);
  return new RingloopClient(u, resolveOptions(options), browserTransport);
}
