/**
 * The client's MessagePack: the server's options (lib/protocol/codec.ts),
 * without its scanner or Buffer, so this file bundles for browsers.
 * Plain MessagePack only: no records, undefined as nil, 64-bit integers
 * decoded as numbers up to 2^53 and BigInt beyond ('auto').
 */
import { Options, Packr, Unpackr } from 'msgpackr';
import { compactIntegers } from '../protocol/integers';

const packr = new Packr({
  useRecords: false,
  encodeUndefinedAsNil: true,
  useToJSON: false,
  writeFunction: (): never => {
    throw new TypeError('a function cannot be encoded as MessagePack');
  },
} as Options);

// int64AsType 'auto' exists in msgpackr 2.1 but is missing from its typings.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' } as unknown as Options);

/** Encodes one message; throws a TypeError for values that are not plain MessagePack (Date, cycle, function). */
export function encode(message: unknown[]): Uint8Array {
  let out: Uint8Array;
  try {
    out = packr.pack(message);
  } catch (e) {
    throw new TypeError(`cannot encode: ${e instanceof Error ? e.message : String(e)}`);
  }
  // msgpackr writes a Date (and a few others) as an extension type, which servers refuse (1007).
  if (hasExtension(message, 0)) throw new TypeError('cannot encode: a Date, Map key type or other value needing a MessagePack extension');
  // msgpackr packs integers beyond 32 bits as float64 (and BigInts as int64): rewrite them as the
  // smallest MessagePack integer, as the server does (lib/protocol/integers.ts). Most messages hold no
  // 9-byte number at all; a byte search skips them.
  if (out.indexOf(0xcb) >= 0 || out.indexOf(0xcf) >= 0 || out.indexOf(0xd3) >= 0) out = out.subarray(0, compactIntegers(out, 0, out.length));
  return out;
}

// A Date is the one common value msgpackr turns into an extension; nesting past 64 is refused too.
function hasExtension(v: unknown, depth: number): boolean {
  if (depth > 64) return true;
  if (v === null || typeof v !== 'object') return false;
  if (v instanceof Date || v instanceof RegExp || v instanceof Error) return true;
  if (ArrayBuffer.isView(v)) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasExtension(v[i], depth + 1)) return true;
    return false;
  }
  if (v instanceof Map || v instanceof Set) return true;
  for (const k in v) if (hasExtension((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/** Every complete message in one WebSocket message. Throws on invalid or truncated input. */
export function decodeAll(bytes: Uint8Array): unknown[] {
  return unpackr.unpackMultiple(bytes) as unknown[];
}

/**
 * Incremental decoder for a TCP byte stream: keeps at most `maxBytes` of an
 * unfinished message; past that it throws (the caller drops the connection).
 */
export class StreamDecoder {
  private held: Uint8Array | null = null;
  // Bytes the held prefix needs before it is worth parsing again (msgpackr's missingBytes hint).
  private need = 0;

  constructor(private readonly maxBytes: number) {}

  /** The messages completed by `chunk`, in order (decoded before any is handled, so handlers may decode too). */
  push(chunk: Uint8Array): unknown[] {
    const out: unknown[] = [];
    let buf = chunk;
    if (this.held !== null) {
      const joined = new Uint8Array(this.held.length + chunk.length);
      joined.set(this.held, 0);
      joined.set(chunk, this.held.length);
      buf = joined;
      this.held = null;
      if (chunk.length < this.need) {
        this.need -= chunk.length;
        this.hold(buf);
        return out;
      }
    }
    this.need = 0;
    let consumed = 0;
    try {
      unpackr.unpackMultiple(buf, (value: unknown, _start?: number, end?: number) => {
        consumed = end ?? buf.length;
        out.push(value);
      });
      return out;
    } catch (e) {
      const err = e as { incomplete?: boolean; lastPosition?: number; missingBytes?: number };
      if (!err.incomplete) throw e;
      const at = err.lastPosition ?? consumed;
      this.need = err.missingBytes ?? 0;
      this.hold(buf.subarray(at));
      return out;
    }
  }

  private hold(rest: Uint8Array): void {
    if (rest.length > this.maxBytes) throw new Error(`a message from the server exceeds ${this.maxBytes} bytes`);
    this.held = rest.slice();
  }
}

// The msgid of an encoded request [0, msgid, ...]: fixarray(4), 0, then a uint of 1..5 bytes.
export function readMsgid(b: Uint8Array): number {
  if (b[0] !== 0x94 || b[1] !== 0x00) return -1;
  const t = b[2];
  if (t < 0x80) return t;
  if (t === 0xcc) return b[3];
  if (t === 0xcd) return (b[3] << 8) | b[4];
  if (t === 0xce) return ((b[3] << 24) >>> 0) + ((b[4] << 16) | (b[5] << 8) | b[6]);
  return -1;
}

// Same request with another msgid (rare: after 2^32 calls).
export function rewriteMsgid(b: Uint8Array, msgid: number): Uint8Array {
  const t = b[2];
  const oldLen = t < 0x80 ? 1 : t === 0xcc ? 2 : t === 0xcd ? 3 : 5;
  const out = new Uint8Array(b.length - oldLen + 5);
  out[0] = 0x94;
  out[1] = 0;
  out[2] = 0xce;
  out[3] = msgid >>> 24;
  out[4] = (msgid >>> 16) & 0xff;
  out[5] = (msgid >>> 8) & 0xff;
  out[6] = msgid & 0xff;
  out.set(b.subarray(2 + oldLen), 7);
  return out;
}
