/**
 * Hand encoder for the scalar results most RPC methods return (hot path).
 *
 * Why: msgpackr's pack() costs ~300 ns of setup per call, about as much as
 * the rest of a small echo request (benchmarks/README.md, "What changed on the
 * hot path"). A string, integer (number or BigInt), boolean or nil after the
 * response header is a few bytes we can write directly. Everything else
 * (non-integral floats, long strings, containers, bin) goes to msgpackr.
 *
 * The bytes are exactly msgpackr's (spec/protocol-fast.spec.ts checks it):
 * the smallest header for the value and for the string's UTF-8 length;
 * except for integers beyond 32 bits, which msgpackr would write as float64
 * (or int64 for a BigInt) and which go out as the smallest integer (integers.ts).
 *
 * Output goes into a slab that is only ever appended to and replaced when
 * full, never rewound, so every returned view stays valid while it is
 * referenced (msgpackr's own scheme).
 */

import { isWireInteger, writeBigInteger, writeInteger } from './integers';

type Utf8Buffer = Buffer & { utf8Write(s: string, offset: number, length: number): number };

const SLAB_BYTES = 64 * 1024;
/** Longer strings go to msgpackr (its native UTF-8 writer, no slab waste). */
export const MAX_FAST_STRING = 4096;

let slab = Buffer.allocUnsafeSlow(SLAB_BYTES) as Utf8Buffer;
let slabPos = 0;

function reserve(bytes: number): number {
  if (slabPos + bytes > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES) as Utf8Buffer;
    slabPos = 0;
  }
  return slabPos;
}

/** Bytes of the `[1, msgid, nil,` header: fixarray(4), 1, msgid as the smallest uint, nil. */
export function responseHeaderLength(msgid: number): number {
  return msgid < 0x80 ? 4 : msgid < 0x100 ? 5 : msgid < 0x10000 ? 6 : 8;
}

/** Writes `[1, msgid, nil,` at out[at..]; returns the end. Shared with the pool, which splices worker results behind it. */
export function writeResponseHeader(out: Uint8Array, at: number, msgid: number): number {
  let i = at;
  out[i++] = 0x94;
  out[i++] = 0x01;
  if (msgid < 0x80) {
    out[i++] = msgid;
  } else if (msgid < 0x100) {
    out[i++] = 0xcc;
    out[i++] = msgid;
  } else if (msgid < 0x10000) {
    out[i++] = 0xcd;
    out[i++] = msgid >>> 8;
    out[i++] = msgid & 0xff;
  } else {
    out[i++] = 0xce;
    out[i++] = msgid >>> 24;
    out[i++] = (msgid >>> 16) & 0xff;
    out[i++] = (msgid >>> 8) & 0xff;
    out[i++] = msgid & 0xff;
  }
  out[i++] = 0xc0;
  return i;
}

/** Takes a byte range of the slab as output (a connection; see BaseConnection.writeRange). */
export interface RangeSink {
  writeRange(buf: Buffer, start: number, end: number): void;
}

/**
 * `[1, msgid, nil, value]` for a valid uint32 msgid, or null when `value` is
 * not one of the fast cases (the caller uses msgpackr then).
 */
export function writeScalarResult(msgid: number, value: unknown): Buffer | null {
  const end = encodeScalar(msgid, value);
  return end < 0 ? null : slab.subarray(claim(end), end);
}

/**
 * The same bytes handed to `sink` as a slab range, with no Buffer made for
 * them: consecutive answers to one connection extend one range. False (and
 * nothing written) when `value` is not a fast case.
 */
export function appendScalarResult(sink: RangeSink, msgid: number, value: unknown): boolean {
  const end = encodeScalar(msgid, value);
  if (end < 0) return false;
  sink.writeRange(slab, claim(end), end);
  return true;
}

/** Takes the bytes an encoder wrote at slabPos..end; returns their start. */
function claim(end: number): number {
  const start = slabPos;
  slabPos = end;
  return start;
}

/** Encodes at slabPos (after making room) without claiming the bytes; returns their end, or -1. */
function encodeScalar(msgid: number, value: unknown): number {
  switch (typeof value) {
    case 'string':
      return value.length <= MAX_FAST_STRING ? writeString(msgid, value) : -1;
    case 'number':
      return writeInt(msgid, value);
    case 'boolean':
      return writeByte(msgid, value ? 0xc3 : 0xc2);
    case 'undefined':
      return writeByte(msgid, 0xc0);
    case 'object':
      return value === null ? writeByte(msgid, 0xc0) : -1;
    case 'bigint':
      return writeBig(msgid, value);
    default:
      return -1;
  }
}

/** Reserves room for the header plus `body` bytes and writes the header at slabPos; returns its end. */
function begin(msgid: number, body: number): number {
  const start = reserve(8 + body);
  return writeResponseHeader(slab, start, msgid);
}

function writeByte(msgid: number, b: number): number {
  const p = begin(msgid, 1);
  slab[p] = b;
  return p + 1;
}

function writeInt(msgid: number, n: number): number {
  const small = n >>> 0 === n || n >> 0 === n;
  // Beyond 32 bits: an integer still goes out as one; a float goes to msgpackr.
  if (!small && !isWireInteger(n)) return -1;
  const at = begin(msgid, small ? 5 : 9); // before reading `slab`: begin may replace it
  return writeInteger(slab, at, n);
}

function writeBig(msgid: number, v: bigint): number {
  const at = begin(msgid, 9);
  return writeBigInteger(slab, at, v);
}

function writeString(msgid: number, str: string): number {
  const len = str.length;
  // Room for the longest case: 3 UTF-8 bytes per UTF-16 unit, a 3-byte header.
  const p = begin(msgid, 3 + len * 3);
  const s = slab;
  // Header size by the unit count; moved below if the UTF-8 length needs a bigger one.
  const guess = len < 0x20 ? 1 : len < 0x100 ? 2 : 3;
  const at = p + guess;
  let bytes = -1;
  if (len < 16) {
    // Short ASCII in JS beats the native call (~100 ns for 32 chars in JS, ~64 ns native).
    let i = 0;
    for (; i < len; i++) {
      const c = str.charCodeAt(i);
      if (c >= 0x80) break;
      s[at + i] = c;
    }
    if (i === len) bytes = len;
  }
  if (bytes < 0) bytes = s.utf8Write(str, at, len * 3);
  const need = bytes < 0x20 ? 1 : bytes < 0x100 ? 2 : 3;
  if (need !== guess) s.copyWithin(p + need, at, at + bytes);
  if (need === 1) s[p] = 0xa0 | bytes;
  else if (need === 2) {
    s[p] = 0xd9;
    s[p + 1] = bytes;
  } else {
    s[p] = 0xda;
    s[p + 1] = bytes >>> 8;
    s[p + 2] = bytes & 0xff;
  }
  return p + need + bytes;
}
