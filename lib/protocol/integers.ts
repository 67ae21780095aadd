/**
 * Integers leave as MessagePack integers, in the smallest form that holds
 * them (CONTRACT.md, `echo`), whatever their JS type.
 *
 * Why: msgpackr packs a JS number beyond 32 bits as float64 and every BigInt
 * as int64 (even 5n), so a client's 2**40 came back as a float and a
 * 2**60 it sent as uint64 as an int64. There is no msgpackr option for this.
 * Scalars are written right by the hand encoder (write.ts, writeInteger
 * below); inside containers, the scanner that already checks every encoded
 * message flags any 64-bit number (SCAN_FLAG_WIDE_NUMBER) and
 * compactIntegers rewrites those in place. Every rewrite is the same size or
 * smaller (an integral float64 from msgpackr is always beyond 32 bits, so it
 * becomes a 9-byte uint64/int64), so the message is compacted without a copy
 * and messages without 64-bit numbers cost nothing but the flag test.
 *
 * Forms match Python's msgpack.packb and @msgpack/msgpack: non-negative
 * values use the unsigned forms (fixint, uint8..uint64), negative ones the
 * signed forms (negative fixint, int8..int64). Integral numbers outside
 * [-2^63, 2^64) stay float64 (no integer holds them).
 */

const TWO32 = 4294967296;
const TWO63 = 9223372036854775808;
const TWO64 = 18446744073709551616;

/** An integral number that some MessagePack integer holds exactly. */
export function isWireInteger(n: number): boolean {
  return Number.isInteger(n) && n >= -TWO63 && n < TWO64;
}

/**
 * Writes `n` (isWireInteger) as the smallest MessagePack integer at buf[p..];
 * returns the end. At most 9 bytes.
 */
export function writeInteger(buf: Uint8Array, p: number, n: number): number {
  if (n >= 0) {
    if (n < 0x80) {
      buf[p] = n;
      return p + 1;
    }
    if (n < 0x100) {
      buf[p] = 0xcc;
      buf[p + 1] = n;
      return p + 2;
    }
    if (n < 0x10000) {
      buf[p] = 0xcd;
      buf[p + 1] = n >>> 8;
      buf[p + 2] = n & 0xff;
      return p + 3;
    }
    if (n < TWO32) {
      buf[p] = 0xce;
      put32(buf, p + 1, n);
      return p + 5;
    }
    buf[p] = 0xcf;
    const hi = Math.floor(n / TWO32);
    put32(buf, p + 1, hi);
    put32(buf, p + 5, n - hi * TWO32);
    return p + 9;
  }
  if (n >= -0x20) {
    buf[p] = n & 0xff;
    return p + 1;
  }
  if (n >= -0x80) {
    buf[p] = 0xd0;
    buf[p + 1] = n & 0xff;
    return p + 2;
  }
  if (n >= -0x8000) {
    buf[p] = 0xd1;
    buf[p + 1] = (n >> 8) & 0xff;
    buf[p + 2] = n & 0xff;
    return p + 3;
  }
  if (n >= -0x80000000) {
    buf[p] = 0xd2;
    put32(buf, p + 1, n >>> 0);
    return p + 5;
  }
  // Two's complement in two 32-bit words: both steps are exact for integers in [-2^63, 0).
  buf[p] = 0xd3;
  const hi = Math.floor(n / TWO32);
  put32(buf, p + 1, hi >>> 0);
  put32(buf, p + 5, n - hi * TWO32);
  return p + 9;
}

/** A BigInt as the smallest integer at buf[p..]; returns the end, or -1 when no 64-bit integer holds it. */
export function writeBigInteger(buf: Uint8Array, p: number, v: bigint): number {
  if (v >= -0x8000000000000000n && v < 0x10000000000000000n) {
    // Every value in this range is exact as two 32-bit words.
    const hi = Number(v >> 32n);
    const lo = Number(v & 0xffffffffn);
    if (hi === 0 || (hi === -1 && lo >= 0x80000000)) return writeInteger(buf, p, hi === 0 ? lo : lo - TWO32);
    buf[p] = hi >= 0 ? 0xcf : 0xd3;
    put32(buf, p + 1, hi >>> 0);
    put32(buf, p + 5, lo);
    return p + 9;
  }
  return -1;
}

function put32(buf: Uint8Array, p: number, u: number): void {
  buf[p] = u >>> 24;
  buf[p + 1] = (u >>> 16) & 0xff;
  buf[p + 2] = (u >>> 8) & 0xff;
  buf[p + 3] = u & 0xff;
}


/** Big-endian unsigned 32 bits (the top byte multiplied, so the result stays unsigned). */
export function u32(buf: Uint8Array, p: number): number {
  return buf[p] * 0x1000000 + ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]);
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function getFloat64(buf: Uint8Array, p: number): number {
  for (let i = 0; i < 8; i++) f64Bytes[LITTLE ? 7 - i : i] = buf[p + i];
  return f64[0];
}

/**
 * Rewrites every integral float64 and every uint64/int64 in buf[start, end)
 * (whole, valid MessagePack values, as the scanner accepted them) as the
 * smallest integer, moving later bytes down. Returns the new end.
 */
export function compactIntegers(buf: Uint8Array, start: number, end: number): number {
  let r = start;
  let w = start;
  while (r < end) {
    const b = buf[r];
    let size: number; // bytes of this token (header + payload), copied as they are
    if (b < 0xc0 || b >= 0xe0) {
      // fixint, fixmap, fixarray (their items follow as tokens), fixstr
      size = b >= 0xa0 && b < 0xc0 ? 1 + (b & 0x1f) : 1;
    } else {
      switch (b) {
        case 0xcb: {
          const v = getFloat64(buf, r + 1);
          if (isWireInteger(v)) {
            w = writeInteger(buf, w, v);
            r += 9;
            continue;
          }
          size = 9;
          break;
        }
        case 0xcf:
        case 0xd3: {
          const hi = u32(buf, r + 1);
          const lo = u32(buf, r + 5);
          const signedHi = hi | 0;
          if (hi === 0 || (b === 0xd3 && signedHi === -1 && lo >= 0x80000000)) {
            w = writeInteger(buf, w, hi === 0 ? lo : lo - TWO32);
            r += 9;
            continue;
          }
          // A non-negative int64 beyond 32 bits is written as uint64 (same bytes after the tag).
          if (b === 0xd3 && signedHi > 0) {
            buf.copyWithin(w + 1, r + 1, r + 9);
            buf[w] = 0xcf;
            w += 9;
            r += 9;
            continue;
          }
          size = 9;
          break;
        }
        case 0xcc:
        case 0xd0:
          size = 2;
          break;
        case 0xcd:
        case 0xd1:
        case 0xdc:
        case 0xde:
          size = 3;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
        case 0xdd:
        case 0xdf:
          size = 5;
          break;
        case 0xc4:
        case 0xd9:
          size = 2 + buf[r + 1];
          break;
        case 0xc5:
        case 0xda:
          size = 3 + ((buf[r + 1] << 8) | buf[r + 2]);
          break;
        case 0xc6:
        case 0xdb:
          size = 5 + u32(buf, r + 1);
          break;
        default:
          // nil, false, true (the scanner refused everything else)
          size = 1;
      }
    }
    if (w !== r) buf.copyWithin(w, r, r + size);
    r += size;
    w += size;
  }
  return w;
}
