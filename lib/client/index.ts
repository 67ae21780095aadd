/**
 * `ringloop/client` in Node: WebSocket (`ws://`, `wss://`, on the `ws`
 * package), raw TCP (`tcp://`) and TLS (`tls://`). Same API as the browser
 * bundle (browser.ts).
 */
import { RingloopClient } from './client';
import { parseUrl, resolveOptions, type ClientOptions } from './options';
import { nodeTransport } from './transport-node';

export * from './api';

/** Starts connecting and returns the client at once; calls wait (bounded by `maxQueued`) until it is open. Throws a TypeError for a bad url or option. */
export function connect(url: string | URL, options?: ClientOptions): RingloopClient {
  const u = parseUrl(url, ['ws:', 'wss:', 'tcp:', 'tls:']);
  return new RingloopClient(u, resolveOptions(options), nodeTransport);
}
