/**
 * Decoder for bytes the scanner has already accepted (hot path).
 *
 * Why not msgpackr here: for the small frames that dominate RPC traffic its
 * per-call setup (a DataView per new Buffer, the native string extractor for
 * every str8 and longer) cost more than the decode itself: ~29% of the
 * server's CPU for a 1-request echo frame (benchmarks/README.md, "What changed on the hot path").
 * The scanner has already checked every length, the nesting depth (<= 64)
 * and that no extension type, 0xc1 or unsafe map key is present, so this
 * reader needs no bounds checks and no recursion guard.
 *
 * It returns exactly what `new Unpackr(decodeOptions)` does for such bytes
 * (spec/protocol-fast.spec.ts checks that property against msgpackr): maps as
 * plain objects with String(key) keys, bin as a copied Buffer, 64-bit
 * integers as numbers within ±2^53 and BigInt beyond (int64AsType 'auto'),
 * float32 widened as is, strings decoded as UTF-8 with U+FFFD replacement.
 *
 * Callers: readValue(buf, at) then readEnd(). All state is set on entry and
 * nothing here calls out, so a caller may decode again between two calls.
 */

// Buffer's own UTF-8 slicer (what toString('utf8', s, e) calls after checking its arguments).
type Utf8Buffer = Buffer & { utf8Slice(start: number, end: number): string };

let src = Buffer.alloc(0) as Utf8Buffer;
let pos = 0;

/** Decode the one value starting at buf[at] (scanned and accepted, no unsafe keys). */
export function readValue(buf: Buffer, at: number): unknown {
  src = buf as Utf8Buffer;
  pos = at;
  return read();
}

/** Offset just past the value that readValue last returned. */
export function readEnd(): number {
  return pos;
}

function read(): unknown {
  const b = src[pos++]!;
  if (b < 0x80) return b;
  if (b < 0x90) return readMap(b & 0x0f);
  if (b < 0xa0) return readArray(b & 0x0f);
  if (b < 0xc0) return readStr(b & 0x1f);
  if (b >= 0xe0) return b - 0x100;
  const s = src;
  const p = pos;
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      pos = p + 1;
      return readBin(s[p]!);
    case 0xc5:
      pos = p + 2;
      return readBin((s[p]! << 8) | s[p + 1]!);
    case 0xc6:
      pos = p + 4;
      return readBin(s.readUInt32BE(p));
    case 0xca:
      pos = p + 4;
      return s.readFloatBE(p);
    case 0xcb:
      pos = p + 8;
      return s.readDoubleBE(p);
    case 0xcc:
      pos = p + 1;
      return s[p]!;
    case 0xcd:
      pos = p + 2;
      return (s[p]! << 8) | s[p + 1]!;
    case 0xce:
      pos = p + 4;
      return s.readUInt32BE(p);
    case 0xcf: {
      pos = p + 8;
      const hi = s.readUInt32BE(p);
      // <= 2^53 is a number; one more than that would not survive the conversion
      if (hi < 0x200000 || (hi === 0x200000 && s.readUInt32BE(p + 4) === 0)) return hi * 0x100000000 + s.readUInt32BE(p + 4);
      return s.readBigUInt64BE(p);
    }
    case 0xd0:
      pos = p + 1;
      return (s[p]! << 24) >> 24;
    case 0xd1:
      pos = p + 2;
      return (((s[p]! << 8) | s[p + 1]!) << 16) >> 16;
    case 0xd2:
      pos = p + 4;
      return s.readInt32BE(p);
    case 0xd3: {
      pos = p + 8;
      const hi = s.readInt32BE(p);
      const lo = s.readUInt32BE(p + 4);
      // [-2^53, 2^53] is a number (msgpackr's 'auto' bounds, both inclusive)
      if ((hi >= -0x200000 && hi < 0x200000) || (hi === 0x200000 && lo === 0)) return hi * 0x100000000 + lo;
      return s.readBigInt64BE(p);
    }
    case 0xd9:
      pos = p + 1;
      return readStr(s[p]!);
    case 0xda:
      pos = p + 2;
      return readStr((s[p]! << 8) | s[p + 1]!);
    case 0xdb:
      pos = p + 4;
      return readStr(s.readUInt32BE(p));
    case 0xdc:
      pos = p + 2;
      return readArray((s[p]! << 8) | s[p + 1]!);
    case 0xdd:
      pos = p + 4;
      return readArray(s.readUInt32BE(p));
    case 0xde:
      pos = p + 2;
      return readMap((s[p]! << 8) | s[p + 1]!);
    case 0xdf:
      pos = p + 4;
      return readMap(s.readUInt32BE(p));
    default:
      // 0xc1 and extension types never pass the scanner
      throw new Error(`unexpected MessagePack byte 0x${b.toString(16)} after the scan`);
  }
}

function readArray(n: number): unknown[] {
  const a = new Array<unknown>(n);
  for (let i = 0; i < n; i++) a[i] = read();
  return a;
}

function readMap(n: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = read();
    // scalar keys only (the scanner flags the rest); "__proto__" never gets here
    o[typeof k === 'string' ? k : String(k)] = read();
  }
  return o;
}

// Short ASCII strings (method names, map keys) come back from a small cache:
// no string to build, and the Map lookup of a method name finds its hash
// already computed. Slot = hash of the bytes; a miss just replaces the slot.
const CACHE_SLOTS = 1024;
const CACHE_MAX = 16;
const cacheStr: Array<string | undefined> = new Array<string | undefined>(CACHE_SLOTS).fill(undefined);
const cacheLen = new Uint8Array(CACHE_SLOTS);
const cacheBytes = new Uint8Array(CACHE_SLOTS * CACHE_MAX);

function readStr(len: number): string {
  const start = pos;
  const end = start + len;
  pos = end;
  if (len > CACHE_MAX) return src.utf8Slice(start, end);
  if (len === 0) return '';
  const s = src;
  let h = len;
  for (let i = start; i < end; i++) {
    const c = s[i]!;
    if (c >= 0x80) return s.utf8Slice(start, end);
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = (h ^ (h >>> 10)) & (CACHE_SLOTS - 1);
  const base = slot * CACHE_MAX;
  if (cacheLen[slot] === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (cacheBytes[base + i] !== s[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return cacheStr[slot]!;
  }
  let out = '';
  for (let i = start; i < end; i++) out += String.fromCharCode(s[i]!);
  cacheStr[slot] = out;
  cacheLen[slot] = len;
  for (let i = 0; i < len; i++) cacheBytes[base + i] = s[start + i]!;
  return out;
}

function readBin(len: number): Buffer {
  const start = pos;
  pos = start + len;
  // A copy that owns its memory, as msgpackr's copyBuffers gives: the frame's bytes die with the callback.
  return Uint8Array.prototype.slice.call(src, start, pos) as Buffer;
}
