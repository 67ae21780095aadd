/**
 * The client side of RFC 6455 done by hand: the opening handshake, masked
 * client frames, and server frame headers.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { LoadTarget } from './types';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** The bytes of an HTTP upgrade request and the `Sec-WebSocket-Accept` it must be answered with. */
export interface Handshake {
  request: Buffer;
  expectedAccept: string;
}

export function makeHandshake(target: LoadTarget, headers?: Readonly<Record<string, string>>): Handshake {
  const key = randomBytes(16).toString('base64');
  const expectedAccept = createHash('sha1').update(key + WS_GUID).digest('base64');
  const hostHeader = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  let text =
    `GET ${target.path} HTTP/1.1\r\n` +
    `Host: ${hostHeader}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${key}\r\n` +
    'Sec-WebSocket-Version: 13\r\n';
  if (headers) {
    for (const name of Object.keys(headers)) {
      const value = headers[name]!;
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`invalid header ${JSON.stringify(name)}`);
      text += `${name}: ${value}\r\n`;
    }
  }
  text += '\r\n';
  return { request: Buffer.from(text, 'latin1'), expectedAccept };
}

/** Result of parsing the server's handshake response. */
export type HandshakeResult =
  | { kind: 'incomplete' }
  | { kind: 'ok'; bodyStart: number }
  | { kind: 'rejected'; reason: string };

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/** Parses the HTTP response held in `buf[0..end)`. */
export function parseHandshakeResponse(buf: Buffer, end: number, expectedAccept: string): HandshakeResult {
  const headEnd = buf.subarray(0, end).indexOf(CRLFCRLF);
  if (headEnd < 0) {
    if (end > 16384) return { kind: 'rejected', reason: 'handshake response headers over 16 KiB' };
    return { kind: 'incomplete' };
  }
  const lines = buf.toString('latin1', 0, headEnd).split('\r\n');
  const status = lines[0] ?? '';
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(status);
  if (!m) return { kind: 'rejected', reason: `bad handshake response: ${JSON.stringify(status.slice(0, 80))}` };
  if (m[1] !== '101') return { kind: 'rejected', reason: `handshake answered ${status.slice(9).trim()}` };
  let accept = '';
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'sec-websocket-accept') {
      accept = line.slice(colon + 1).trim();
    }
  }
  if (accept !== expectedAccept) return { kind: 'rejected', reason: 'wrong Sec-WebSocket-Accept' };
  return { kind: 'ok', bodyStart: headEnd + 4 };
}

/** A random non-zero masking key, drawn once per process (RFC 6455 wants fresh keys; a load tool may reuse one). */
export const MASK_KEY: Buffer = (() => {
  let k = randomBytes(4);
  while (k.readUInt32BE(0) === 0) k = randomBytes(4);
  return k;
})();

/** A complete masked client frame (FIN set) carrying `payload`. */
export function encodeClientFrame(opcode: number, payload: Uint8Array, mask: Uint8Array = MASK_KEY): Buffer {
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len <= 0xffff ? 2 : 8;
  const headerLen = 2 + lenBytes + 4;
  const frame = Buffer.allocUnsafe(headerLen + len);
  frame[0] = 0x80 | opcode;
  if (lenBytes === 0) {
    frame[1] = 0x80 | len;
  } else if (lenBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  const m0 = mask[0]!, m1 = mask[1]!, m2 = mask[2]!, m3 = mask[3]!;
  frame[headerLen - 4] = m0;
  frame[headerLen - 3] = m1;
  frame[headerLen - 2] = m2;
  frame[headerLen - 1] = m3;
  for (let i = 0; i < len; i++) {
    const m = (i & 3) === 0 ? m0 : (i & 3) === 1 ? m1 : (i & 3) === 2 ? m2 : m3;
    frame[headerLen + i] = payload[i]! ^ m;
  }
  return frame;
}

/** A close frame with `code` (and no reason). */
export function encodeCloseFrame(code: number): Buffer {
  const body = Buffer.allocUnsafe(2);
  body.writeUInt16BE(code, 0);
  return encodeClientFrame(OP_CLOSE, body);
}
