/**
 * MessagePack-RPC codec (CONTRACT.md "Wire protocol"; msgpackr per FACTS.md).
 *
 * Decoding is two-pass: scanFrame validates the whole frame byte by byte
 * (no allocation, no recursion) before anything reaches the sink, then each
 * message is decoded by msgpackr, which never sees invalid input.
 *
 * Decisions:
 * - msgid: any MessagePack number whose value is an integer in 0..2^32-1,
 *   whatever its encoding (fixint, uint64, int64, even float 1.0). A
 *   non-integral float (1.5), a negative number or a value >= 2^32 is not a
 *   readable msgid: 1002. The same value rule applies to the type (0/1/2).
 * - Maps decode to plain objects (Object.prototype, like JSON.parse).
 *   Scalar keys become strings as in JS property access (1 -> "1",
 *   nil -> "null", true -> "true"). A "__proto__" key becomes an own
 *   enumerable data property (as JSON.parse does) so it round-trips and never
 *   changes a prototype; msgpackr alone would rename it to "__proto_".
 *   Keys that are arrays, maps or bin have no property form: for a request
 *   that is INVALID_REQUEST, otherwise 1002.
 * - bin values are always fresh Buffers (copyBuffers), never views into the
 *   input: uWebSockets.js detaches the input ArrayBuffer after the callback.
 *   That costs nothing for frames without bin (readBin is the only copy site).
 * - uint64/int64 decode as numbers up to 2^53 and BigInt beyond (int64AsType
 *   'auto'); on the way out every integral number and every BigInt is written
 *   as the smallest MessagePack integer (integers.ts), so any int64/uint64 a
 *   client sends echoes back as the same integer. A float with an integral
 *   value in [-2^63, 2^64) comes back as that integer too (JS has one number
 *   type), -0.0 as integer 0.
 */
import { Options, Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { readEnd, readValue } from './read';
import { appendScalarResult, responseHeaderLength, writeResponseHeader, writeScalarResult, type RangeSink } from './write';
import { CloseCode, RpcErrorBody } from '../errors';
import { compactIntegers } from './integers';
import {
  SCAN_FLAG_TRUNCATED,
  SCAN_FLAG_UNSAFE_KEY,
  SCAN_FLAG_WIDE_NUMBER,
  lastScanFlags,
  scanFrame,
  scanMessage,
} from './scan';

// The pool splices worker results behind this header.
export { responseHeaderLength, writeResponseHeader };

export interface FrameSink {
  request(msgid: number, method: string, params: unknown[]): void;
  notification(method: string, params: unknown[]): void;
  /** Answer INVALID_REQUEST for that msgid. */
  invalid(msgid: number, reason: string): void;
}

export type FrameError = { close: 1007 | 1002; reason: string };

// int64AsType 'auto' exists in msgpackr 2.1 but is missing from its typings.
/** Decoder options for untrusted input (shared with the worker pool's wire format). */
export const decodeOptions = {
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'auto',
  copyBuffers: true,
} as unknown as Options;

const unpackr = new Unpackr(decodeOptions);
// For frames with unsafe map keys (rare): maps come back as Map and are
// converted by toPlain with our key rules.
const mapUnpackr = new Unpackr({ ...decodeOptions, mapsAsObjects: false });

/** Encoder options: plain MessagePack any decoder reads (shared with the worker pool's wire format). */
export const packOptions = {
  useRecords: false,
  encodeUndefinedAsNil: true,
  // Encode objects by their own fields: a decoded map may carry a non-function
  // "toJSON" key, which msgpackr would otherwise try to call.
  useToJSON: false,
  // msgpackr writes functions as nil by default; an RPC result holding a
  // function is a handler bug, so make it an error (-> HANDLER_ERROR).
  writeFunction: (): never => {
    throw new TypeError('a function cannot be encoded as MessagePack');
  },
};

const packr = new Packr(packOptions);

// Decoded messages of the frame being delivered. msgpackr decodes the whole
// (already validated) frame in one unpackMultiple call, which is ~2.5x faster
// per message than one unpack call per message (it extracts the frame's
// strings in one pass); the sink then runs with msgpackr idle, so a sink may
// encode, decode or throw freely. A reentrant decodeFrame (a sink that
// decodes) gets its own array instead of the shared one.
const shared: unknown[] = [];
// Up to this many messages per frame go through read.ts; msgpackr's one-pass
// string extraction wins from about 4 on (benchmarks/dispatch.bench.ts).
const SMALL_FRAME = 3;
let collectInto: unknown[] = shared;
let delivering = false;
function collect(value: unknown): void {
  collectInto.push(value);
}

class KeyError extends Error {}

function close(code: 1007 | 1002, reason: string): FrameError {
  return { close: code, reason };
}

function scanError(): FrameError {
  return (lastScanFlags() & SCAN_FLAG_TRUNCATED) !== 0
    ? close(CloseCode.INVALID_PAYLOAD, 'truncated MessagePack message')
    : close(CloseCode.INVALID_PAYLOAD, 'invalid MessagePack: reserved byte 0xc1, extension type or nesting deeper than 64');
}

function asBuffer(bytes: Uint8Array): Buffer {
  // A Buffer view (no copy) so bin copies are Buffers and msgpackr's Buffer fast paths apply.
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decode every message of one WebSocket binary frame in order, calling sink
 * for each; returns null on success or the close code + reason at the first
 * fatal problem (messages before it have already been delivered to the sink).
 * Never throws for any input; an exception thrown by the sink propagates.
 * An empty frame is 1007 (it holds no MessagePack value).
 */
export function decodeFrame(bytes: Uint8Array, sink: FrameSink): FrameError | null {
  const buf = asBuffer(bytes);
  const count = scanFrame(buf, 0, buf.length);
  if (count < 0) return scanError();
  if (count === 0) return close(CloseCode.INVALID_PAYLOAD, 'empty frame');
  const slow = (lastScanFlags() & SCAN_FLAG_UNSAFE_KEY) !== 0;
  if (!slow && count <= SMALL_FRAME) {
    // Few messages: the hand decoder (read.ts) is ~2x faster than msgpackr's per-call setup.
    let at = 0;
    for (let i = 0; i < count; i++) {
      const value = readValue(buf, at);
      at = readEnd(); // before the sink runs: it may decode too
      const err = deliver(value, sink);
      if (err !== null) return err;
    }
    return null;
  }
  const reentrant = delivering;
  const values = reentrant ? [] : shared;
  collectInto = values;
  try {
    (slow ? mapUnpackr : unpackr).unpackMultiple(buf, collect);
  } catch {
    // msgpackr refusing what the scanner accepted would be a bug; still never throw
    values.length = 0;
    return close(CloseCode.INVALID_PAYLOAD, 'undecodable MessagePack');
  }
  delivering = true;
  try {
    for (let i = 0; i < values.length; i++) {
      const err = slow ? deliverSlow(values[i], sink) : deliver(values[i], sink);
      if (err !== null) return err;
    }
    return null;
  } finally {
    delivering = reentrant;
    values.length = 0; // drop references to delivered values
  }
}

// A msgid (or type) is read by value: an integer in 0..2^32-1. `x >>> 0 === x`
// is exactly that for numbers (NaN, fractions, negatives and >= 2^32 fail).
function isUint32(x: unknown): x is number {
  return typeof x === 'number' && x >>> 0 === x;
}

function deliver(v: unknown, sink: FrameSink): FrameError | null {
  if (!Array.isArray(v)) return close(CloseCode.PROTOCOL_ERROR, 'message is not an array');
  const type: unknown = v[0];
  if (type === 0) {
    const id: unknown = v[1];
    if (!isUint32(id)) return close(CloseCode.PROTOCOL_ERROR, 'request msgid is not a uint32');
    const msgid = id >>> 0; // -0 -> 0
    if (v.length !== 4) sink.invalid(msgid, 'a request has 4 elements');
    else if (typeof v[2] !== 'string') sink.invalid(msgid, 'method must be a string');
    else if (!Array.isArray(v[3])) sink.invalid(msgid, 'params must be an array');
    else sink.request(msgid, v[2], v[3]);
    return null;
  }
  if (type === 2) {
    if (v.length !== 3 || typeof v[1] !== 'string' || !Array.isArray(v[2])) {
      return close(CloseCode.PROTOCOL_ERROR, 'malformed notification');
    }
    sink.notification(v[1], v[2]);
    return null;
  }
  return close(CloseCode.PROTOCOL_ERROR, type === 1 ? 'responses are not accepted' : 'unknown message type');
}

// Same rules as deliver, on a value decoded with maps as Map.
function deliverSlow(v: unknown, sink: FrameSink): FrameError | null {
  if (!Array.isArray(v)) return close(CloseCode.PROTOCOL_ERROR, 'message is not an array');
  const type: unknown = v[0];
  if (type === 0 && isUint32(v[1]) && v.length === 4 && typeof v[2] === 'string' && Array.isArray(v[3])) {
    let params: unknown[];
    try {
      params = toPlainArray(v[3]);
    } catch (e) {
      if (!(e instanceof KeyError)) throw e;
      sink.invalid(v[1] >>> 0, e.message);
      return null;
    }
    sink.request(v[1] >>> 0, v[2], params);
    return null;
  }
  if (type === 2 && v.length === 3 && typeof v[1] === 'string' && Array.isArray(v[2])) {
    let params: unknown[];
    try {
      params = toPlainArray(v[2]);
    } catch (e) {
      if (!(e instanceof KeyError)) throw e;
      return close(CloseCode.PROTOCOL_ERROR, 'malformed notification: ' + e.message);
    }
    sink.notification(v[1], params);
    return null;
  }
  // Anything else fails on the envelope alone, which has no maps to convert.
  return deliver(v, sink);
}

function toPlainArray(a: unknown[]): unknown[] {
  for (let i = 0; i < a.length; i++) a[i] = toPlain(a[i]);
  return a;
}

// Map -> plain object with the key rules above; depth is bounded (<= 64) by the scanner.
function toPlain(v: unknown): unknown {
  if (Array.isArray(v)) return toPlainArray(v);
  if (!(v instanceof Map)) return v;
  const o: Record<string, unknown> = {};
  for (const [k, val] of v as Map<unknown, unknown>) {
    const key = keyString(k);
    if (key === '__proto__') {
      Object.defineProperty(o, key, { value: toPlain(val), enumerable: true, writable: true, configurable: true });
    } else {
      o[key] = toPlain(val);
    }
  }
  return o;
}

function keyString(k: unknown): string {
  if (typeof k === 'string') return k;
  if (k === null || typeof k === 'number' || typeof k === 'boolean' || typeof k === 'bigint') return String(k);
  throw new KeyError('map keys must be strings or numbers');
}

/**
 * Every back-to-back value in bytes (for clients and tests), decoded with the
 * same options and key rules as decodeFrame. Throws on anything decodeFrame
 * would close with 1007, and on map keys that are arrays, maps or bin.
 */
export function decodeAny(bytes: Uint8Array): unknown[] {
  const buf = asBuffer(bytes);
  const count = scanFrame(buf, 0, buf.length);
  if (count < 0) throw new Error(scanError().reason);
  if (count === 0) return [];
  if ((lastScanFlags() & SCAN_FLAG_UNSAFE_KEY) === 0) return unpackr.unpackMultiple(buf) as unknown[];
  return toPlainArray(mapUnpackr.unpackMultiple(buf) as unknown[]);
}

/*
 * Encoding. Buffers returned by Packr.pack are views into a shared slab that
 * msgpackr only ever appends to (a full slab is replaced, never rewound), so
 * each stays valid after later calls: callers may keep several and concat
 * them without copying.
 *
 * Every encoded message is checked with the scanner: what ringloop sends must
 * be what it would accept itself, so a value that msgpackr can only write as
 * an extension type (a Date -> timestamp ext) or that nests deeper than 64
 * is an error, like a function, a symbol, a BigInt beyond 64 bits or a
 * circular structure (a caught RangeError). All of these throw a plain,
 * catchable Error from encodeResult; the caller answers HANDLER_ERROR.
 */

const NOT_PLAIN = 'value cannot be sent as plain MessagePack (extension type such as a Date, or nesting deeper than 64)';

// Normalise whatever msgpackr threw (RangeError from a cycle, Error from a symbol...) to one catchable TypeError.
function encodeFailure(cause: unknown): TypeError {
  if (cause === null) return new TypeError(`cannot encode: ${NOT_PLAIN}`);
  return new TypeError(`cannot encode: ${cause instanceof Error ? cause.message : String(cause)}`);
}

function assertMsgid(msgid: number): void {
  if (!isUint32(msgid)) throw new RangeError(`msgid must be a uint32, got ${String(msgid)}`);
}

/**
 * What msgpackr wrote, checked to be plain MessagePack (throws otherwise),
 * with its 64-bit numbers rewritten as the smallest integers. `out` may
 * shrink: the returned view is the message. Shared with the pool's encoder.
 */
export function checkedPlain(out: Buffer): Buffer {
  if (scanMessage(out, 0, out.length) !== out.length) throw encodeFailure(null);
  if ((lastScanFlags() & SCAN_FLAG_WIDE_NUMBER) === 0) return out;
  return out.subarray(0, compactIntegers(out, 0, out.length));
}

function pack(value: unknown): Buffer {
  let out: Buffer;
  try {
    out = packr.pack(value);
  } catch (e) {
    throw encodeFailure(e);
  }
  return checkedPlain(out);
}

/**
 * `[1, msgid, nil, result]`. Throws a catchable TypeError for an unencodable
 * result (the caller answers HANDLER_ERROR instead).
 *
 * Scalars are written by hand (write.ts). Otherwise msgpackr packs only the
 * result, into space reserved in front of it for the header we write by hand:
 * no envelope array, ~25% faster than packing one.
 */
export function encodeResult(msgid: number, result: unknown): Buffer {
  assertMsgid(msgid);
  return writeScalarResult(msgid, result) ?? packResult(msgid, result);
}

/** Where writeResult puts an answer: a connection's output queue. */
export interface ResultSink extends RangeSink {
  write(bytes: Uint8Array): void;
}

/**
 * encodeResult's bytes queued on `sink`; a scalar goes as a range of the
 * encoder's slab, so a run of answers to one connection is one buffer. Throws
 * like encodeResult. `msgid` must be a valid uint32 (one the decoder read).
 */
export function writeResult(sink: ResultSink, msgid: number, result: unknown): void {
  if (!appendScalarResult(sink, msgid, result)) sink.write(packResult(msgid, result));
}

function packResult(msgid: number, result: unknown): Buffer {
  const h = responseHeaderLength(msgid);
  let out: Buffer;
  try {
    out = packr.pack(result, RESERVE_START_SPACE | h);
  } catch (e) {
    throw encodeFailure(e);
  }
  writeResponseHeader(out, 0, msgid);
  // Checked with the header in place (the envelope adds one level of nesting).
  // A string, number, boolean or nil result cannot come out as an extension or nest, and the hand
  // encoder took every integral number (msgpackr only gets non-integral ones): skip the scan.
  const t = typeof result;
  if (result !== null && result !== undefined && t !== 'string' && t !== 'number' && t !== 'boolean') return checkedPlain(out);
  return out;
}

/**
 * `[1, msgid, {code, message, data?}, nil]`. Never throws for a valid msgid:
 * when `data` can't be encoded the error goes out without it.
 */
export function encodeError(msgid: number, err: RpcErrorBody): Buffer {
  assertMsgid(msgid);
  const code = String(err.code);
  const message = String(err.message);
  if (err.data !== undefined) {
    try {
      return pack([1, msgid, { code, message, data: err.data }, null]);
    } catch {
      // fall through: send the error without its data
    }
  }
  return pack([1, msgid, { code, message }, null]);
}

/** `[0, msgid, method, params]`, for clients, tests and benchmarks. */
export function encodeRequest(msgid: number, method: string, params: unknown[]): Buffer {
  assertMsgid(msgid);
  return pack([0, msgid, method, params]);
}

/** `[2, method, params]`. */
export function encodeNotification(method: string, params: unknown[]): Buffer {
  return pack([2, method, params]);
}
