/**
 * Byte-level MessagePack validator and framer (hot path).
 *
 * It walks one value without decoding it and without allocating: an explicit
 * stack of "items still to read" per open container replaces recursion, so a
 * hostile 100k-level nesting costs nothing but the bytes up to level 65.
 * Strings and bin are skipped by their declared length in O(1).
 *
 * What it rejects is what CONTRACT.md "Wire protocol" says is not part of the
 * protocol: reserved byte 0xc1, every extension type (fixext 0xd4-0xd8,
 * ext 0xc7-0xc9; msgpackr's records, bundled strings, RegExp... are all ext),
 * and containers nested deeper than MAX_DEPTH.
 *
 * Depth: a top-level array/map is at depth 1, a container directly inside it
 * at depth 2, and so on; a container (empty or not) at depth > 64 is invalid.
 * Scalars do not count, so `[[1]]` has depth 2 and a bare `1` has depth 0.
 *
 * Resumability (the TCP stream decoder): all state of a scan is `pos`,
 * `depth` and the remaining-count stack below. scanResumable() saves them in a
 * ScanResume when the bytes run out, at the start of the item that was cut,
 * and carries on from there when more bytes arrive: a message split over any
 * number of reads is scanned in time linear in its bytes.
 */
import { u32 } from './integers';

/** The bytes end inside the value. */
export const SCAN_INCOMPLETE = -1;
/** 0xc1, an extension type, or nesting deeper than MAX_DEPTH. */
export const SCAN_INVALID = -2;
/** Deepest allowed container nesting (the top-level container is depth 1). */
export const MAX_DEPTH = 64;

/** The scanned bytes contain bin (0xc4-0xc6): a decoder that returns views must copy them. */
export const SCAN_FLAG_BIN = 1;
/**
 * A map key that a plain-object decoder can't take as-is: the string
 * "__proto__", or a key that is an array, map or bin. Scalar keys (nil, bool,
 * numbers, strings) are fine.
 */
export const SCAN_FLAG_UNSAFE_KEY = 2;
/** scanFrame only: the frame's last message was cut off (its result is SCAN_INVALID). */
export const SCAN_FLAG_TRUNCATED = 4;
/**
 * A float64, uint64 or int64 (0xcb, 0xcf, 0xd3): what msgpackr writes for an
 * integer beyond 32 bits (float64) or any BigInt (int64). The encoder then
 * rewrites them as the smallest integer (integers.ts).
 */
export const SCAN_FLAG_WIDE_NUMBER = 8;

// Items still to read in each open container, indexed by depth (1..MAX_DEPTH).
// A map of n entries holds 2n items; Float64 holds 2 * (2^32 - 1) exactly.
const remaining = new Float64Array(MAX_DEPTH + 1);
// 1 where the container at that depth is a map (its even-remaining items are keys).
const isMap = new Uint8Array(MAX_DEPTH + 1);

let flags = 0;

/** Where an incomplete scan stopped, so the next read resumes instead of rescanning. */
export class ScanResume {
  /** Offset of the first item not yet complete, or -1 when no scan is in progress. */
  pos = -1;
  depth = 0;
  flags = 0;
  readonly remaining = new Float64Array(MAX_DEPTH + 1);
  readonly isMap = new Uint8Array(MAX_DEPTH + 1);
  reset(): void {
    this.pos = -1;
    this.depth = 0;
    this.flags = 0;
  }
  /** Positions are offsets into the caller's buffer: shift them when it drops consumed bytes. */
  shift(by: number): void {
    if (this.pos >= 0) this.pos -= by;
  }
}

// Set only while scanResumable runs: where an INCOMPLETE result saves its state.
let saveTo: ScanResume | null = null;

function incomplete(itemStart: number, depth: number, f: number): number {
  flags = f;
  const r = saveTo;
  if (r !== null) {
    r.pos = itemStart;
    r.depth = depth;
    r.flags = f;
    for (let d = 1; d <= depth; d++) {
      r.remaining[d] = remaining[d];
      r.isMap[d] = isMap[d];
    }
  }
  return SCAN_INCOMPLETE;
}

/**
 * scanMessage for a byte stream: on SCAN_INCOMPLETE the state is saved in `r`;
 * the next call (same buffer start, more bytes at the end) resumes where it stopped.
 * `r` is reset when a result other than SCAN_INCOMPLETE is returned.
 */
export function scanResumable(buf: Uint8Array, start: number, end: number, r: ScanResume): number {
  let pos = start;
  let depth = 0;
  flags = 0;
  if (r.pos >= 0) {
    pos = r.pos;
    depth = r.depth;
    flags = r.flags;
    for (let d = 1; d <= depth; d++) {
      remaining[d] = r.remaining[d];
      isMap[d] = r.isMap[d];
    }
  }
  saveTo = r;
  let out: number;
  try {
    out = scanOne(buf, pos, end, depth);
  } finally {
    saveTo = null;
  }
  if (out !== SCAN_INCOMPLETE) r.reset();
  return out;
}

/** SCAN_FLAG_* bits of the last scanMessage / scanFrame call (all messages of a frame OR'ed). */
export function lastScanFlags(): number {
  return flags;
}

/** Whether the last scanned message / frame contained bin. */
export function lastScanHadBin(): boolean {
  return (flags & SCAN_FLAG_BIN) !== 0;
}

/**
 * Walk exactly one MessagePack value in buf[start, end).
 * Returns the offset just past it (>= 0), SCAN_INCOMPLETE or SCAN_INVALID.
 */
export function scanMessage(buf: Uint8Array, start: number, end: number): number {
  flags = 0;
  return scanOne(buf, start, end, 0);
}

/**
 * Scan back-to-back messages filling buf[start, end) (one WebSocket frame).
 * Returns the number of messages (0 for an empty range) or SCAN_INVALID,
 * also when the last message is cut off (SCAN_FLAG_TRUNCATED tells that case
 * apart).
 */
export function scanFrame(buf: Uint8Array, start: number, end: number): number {
  flags = 0;
  let count = 0;
  let pos = start;
  while (pos < end) {
    const next = scanOne(buf, pos, end, 0);
    if (next < 0) {
      if (next === SCAN_INCOMPLETE) flags |= SCAN_FLAG_TRUNCATED;
      return SCAN_INVALID;
    }
    count++;
    pos = next;
  }
  return count;
}

// "__proto__" as UTF-8: the one key that a plain-object assignment turns into a prototype change.
function isProtoKey(buf: Uint8Array, p: number): boolean {
  return (
    buf[p] === 0x5f &&
    buf[p + 1] === 0x5f &&
    buf[p + 2] === 0x70 &&
    buf[p + 3] === 0x72 &&
    buf[p + 4] === 0x6f &&
    buf[p + 5] === 0x74 &&
    buf[p + 6] === 0x6f &&
    buf[p + 7] === 0x5f &&
    buf[p + 8] === 0x5f
  );
}

// Whether the item about to be read at this depth is a map key.
// `& 1` on the double wraps mod 2^32, which keeps the parity.
function atKey(depth: number): boolean {
  return depth !== 0 && isMap[depth] !== 0 && (remaining[depth] & 1) === 0;
}

function u16(buf: Uint8Array, p: number): number {
  return (buf[p] << 8) | buf[p + 1];
}


function scanOne(buf: Uint8Array, pos: number, end: number, depth: number): number {
  let f = flags;
  for (;;) {
    const itemStart = pos;
    if (pos >= end) return incomplete(itemStart, depth, f);
    const b = buf[pos++];
    // n: element count of a container starting here, or -1 for a scalar
    let n = -1;
    let map = 0;
    if (b < 0x80 || b >= 0xe0) {
      // positive / negative fixint: nothing more to read
    } else if (b >= 0xa0 && b < 0xc0) {
      // fixstr
      const len = b & 0x1f;
      if (pos + len > end) {
        return incomplete(itemStart, depth, f);
      }
      if (len === 9 && atKey(depth) && isProtoKey(buf, pos)) f |= SCAN_FLAG_UNSAFE_KEY;
      pos += len;
    } else if (b < 0x90) {
      n = b & 0x0f;
      map = 1;
    } else if (b < 0xa0) {
      n = b & 0x0f;
    } else {
      // 0xc0..0xdf
      let skip = 0; // bytes of payload after the header
      let isStr = false;
      switch (b) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          break;
        case 0xcc: // uint8
        case 0xd0: // int8
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xca: // float32
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb: // float64
        case 0xcf:
        case 0xd3:
          skip = 8;
          f |= SCAN_FLAG_WIDE_NUMBER;
          break;
        case 0xc4: // bin 8
        case 0xd9: // str 8
          if (pos + 1 > end) {
            return incomplete(itemStart, depth, f);
          }
          skip = buf[pos];
          pos += 1;
          isStr = b === 0xd9;
          break;
        case 0xc5:
        case 0xda:
          if (pos + 2 > end) {
            return incomplete(itemStart, depth, f);
          }
          skip = u16(buf, pos);
          pos += 2;
          isStr = b === 0xda;
          break;
        case 0xc6:
        case 0xdb:
          if (pos + 4 > end) {
            return incomplete(itemStart, depth, f);
          }
          skip = u32(buf, pos);
          pos += 4;
          isStr = b === 0xdb;
          break;
        case 0xdc: // array 16
        case 0xde: // map 16
          if (pos + 2 > end) {
            return incomplete(itemStart, depth, f);
          }
          n = u16(buf, pos);
          pos += 2;
          map = b === 0xde ? 1 : 0;
          break;
        case 0xdd: // array 32
        case 0xdf: // map 32
          if (pos + 4 > end) {
            return incomplete(itemStart, depth, f);
          }
          n = u32(buf, pos);
          pos += 4;
          map = b === 0xdf ? 1 : 0;
          break;
        default:
          // 0xc1 (never used), 0xc7-0xc9 ext 8/16/32, 0xd4-0xd8 fixext
          flags = f;
          return SCAN_INVALID;
      }
      if (skip !== 0) {
        if (pos + skip > end) {
          return incomplete(itemStart, depth, f);
        }
        if (b >= 0xc4 && b <= 0xc6) {
          f |= SCAN_FLAG_BIN;
          if (atKey(depth)) f |= SCAN_FLAG_UNSAFE_KEY;
        } else if (isStr && skip === 9 && atKey(depth) && isProtoKey(buf, pos)) {
          f |= SCAN_FLAG_UNSAFE_KEY;
        }
        pos += skip;
      } else if (b >= 0xc4 && b <= 0xc6) {
        // empty bin
        f |= SCAN_FLAG_BIN;
        if (atKey(depth)) f |= SCAN_FLAG_UNSAFE_KEY;
      }
    }

    if (n >= 0) {
      // a container, possibly empty: it sits at depth + 1
      if (depth >= MAX_DEPTH) {
        flags = f;
        return SCAN_INVALID;
      }
      if (atKey(depth)) f |= SCAN_FLAG_UNSAFE_KEY;
      if (n !== 0) {
        depth++;
        remaining[depth] = map === 1 ? n * 2 : n;
        isMap[depth] = map;
        continue;
      }
    }

    // one item complete: count it off, closing every container it finishes
    for (;;) {
      if (depth === 0) {
        flags = f;
        return pos;
      }
      if (--remaining[depth] !== 0) break;
      depth--;
    }
  }
}
