/** Browser transport: the native WebSocket (no headers: the token goes as `?token=`). */
import { decodeAll } from './codec';
import type { Transport, TransportFactory } from './transport';

// The part of the DOM WebSocket used here (the project compiles without the DOM lib).
interface NativeWebSocket {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: (() => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: (() => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
type NativeWebSocketCtor = new (url: string) => NativeWebSocket;

export const browserTransport: TransportFactory = (url, o, ev): Transport => {
  const Ctor = (globalThis as { WebSocket?: NativeWebSocketCtor }).WebSocket;
  if (typeof Ctor !== 'function') throw new Error('this environment has no WebSocket');
  const target = new URL(url.href);
  if (o.token !== undefined) target.searchParams.set('token', o.token);
  const ws = new Ctor(target.href);
  ws.binaryType = 'arraybuffer';
  let closed = false;
  const connectTimer = setTimeout(() => {
    ws.close(1000);
    finish(1006, `not connected within ${o.connectTimeout} ms`);
  }, o.connectTimeout);
  const finish = (code: number, reason: string): void => {
    clearTimeout(connectTimer);
    if (closed) return;
    closed = true;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    ev.close(code, reason);
  };
  ws.onopen = () => {
    clearTimeout(connectTimer);
    ev.open();
  };
  // A page may only send 1000 or 3000-4999: the code is the client's to report, the server sees 1000.
  const fail = (code: number, reason: string): void => {
    ws.close(1000, reason);
    finish(code, reason);
  };
  ws.onmessage = (e) => {
    if (!(e.data instanceof ArrayBuffer)) return fail(1003, 'text frame from server');
    if (e.data.byteLength > o.maxMessageBytes) return fail(1009, 'message from server over maxMessageBytes');
    let messages: unknown[];
    try {
      messages = decodeAll(new Uint8Array(e.data));
    } catch {
      return fail(1007, 'invalid MessagePack from server');
    }
    ev.messages(messages);
  };
  ws.onclose = (e) => finish(e.code, e.reason);
  return {
    send: (bytes) => {
      if (ws.readyState !== 1) return false;
      ws.send(bytes);
      return true;
    },
    buffered: () => ws.bufferedAmount,
    // Browsers accept only 1000 and 3000-4999 from a page.
    close: (code, reason) => ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason),
    terminate: () => {
      ws.close(4000, 'server unresponsive');
      finish(1006, 'server unresponsive');
    },
  };
};
