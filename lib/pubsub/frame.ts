/**
 * The bytes of a publication. Data is packed once (plain MessagePack, checked
 * with the same scanner as inbound frames); that packed body is what NATS and
 * the relay between reactors carry, and the notification every subscriber
 * gets is a fixed header around it, so a publication is encoded once however
 * many subscribers, reactors and servers it reaches.
 */
import { Packr } from 'msgpackr';
import { packOptions } from '../protocol/codec';
import { SCAN_FLAG_WIDE_NUMBER, lastScanFlags, scanMessage, scanFrame } from '../protocol/scan';
import { compactIntegers } from '../protocol/integers';
import { invalidParams } from '../errors';

const packr = new Packr(packOptions);

/** `[2, "ringloop.message", [` up to the topic: fixarray(3), 2, fixstr(16) "ringloop.message", fixarray(2). */
const HEAD = Buffer.from([0x93, 0x02, 0xb0, ...Buffer.from('ringloop.message'), 0x92]);

export const MESSAGE_METHOD = 'ringloop.message';

/** `data` as plain MessagePack, or INVALID_PARAMS when it cannot be sent as such (ext types, cycles, depth). */
export function packData(data: unknown): Buffer {
  let out: Buffer;
  try {
    out = packr.pack(data);
  } catch (e) {
    throw invalidParams(`data cannot be encoded: ${(e as Error)?.message ?? String(e)}`);
  }
  if (scanMessage(out, 0, out.length) !== out.length) throw invalidParams('data cannot be sent as plain MessagePack (extension type or nesting deeper than 64)');
  // Integers as the smallest MessagePack integer, as every value ringloop encodes (lib/protocol/integers.ts).
  if ((lastScanFlags() & SCAN_FLAG_WIDE_NUMBER) !== 0) out = out.subarray(0, compactIntegers(out, 0, out.length));
  return out;
}

/** Whether `body` is exactly one plain MessagePack value (no ext types, no 0xc1, depth <= 64). */
export function isPlainValue(body: Uint8Array): boolean {
  return body.length > 0 && scanFrame(body, 0, body.length) === 1;
}

/** `[2, "ringloop.message", [topic, <body>]]` with `body` spliced in as is. Topics are ASCII, at most 256 bytes. */
export function messageFrame(topic: string, body: Uint8Array): Buffer {
  const n = topic.length;
  const strHead = n < 32 ? 1 : n < 256 ? 2 : 3;
  const out = Buffer.allocUnsafe(HEAD.length + strHead + n + body.length);
  HEAD.copy(out, 0);
  let i = HEAD.length;
  if (n < 32) out[i++] = 0xa0 | n;
  else if (n < 256) {
    out[i++] = 0xd9;
    out[i++] = n;
  } else {
    out[i++] = 0xda;
    out[i++] = n >>> 8;
    out[i++] = n & 0xff;
  }
  i += out.write(topic, i, "latin1");
  out.set(body, i);
  return out;
}
