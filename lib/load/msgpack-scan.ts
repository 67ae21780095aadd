/**
 * Allocation-free scanning of MessagePack bytes: find where a value ends
 * without decoding it. Used by the load client to walk responses.
 */

/** Returned by `skipValue` when the value runs past `end`. */
export const INCOMPLETE = -1;
/** Returned by `skipValue` on a byte that is not MessagePack (0xc1) or nesting beyond the limit. */
export const INVALID = -2;

const MAX_DEPTH = 64;
/** Items still to skip per open container; shared, the scanner is synchronous. */
const pendingStack = new Float64Array(MAX_DEPTH + 1);

/**
 * Position just after the MessagePack value starting at `pos`, or `INCOMPLETE`
 * / `INVALID`. Never allocates.
 */
export function skipValue(buf: Uint8Array, pos: number, end: number): number {
  let depth = 0;
  // Items still to read at the current level; the top level holds one value.
  let pending = 1;
  while (true) {
    while (pending === 0) {
      if (depth === 0) return pos;
      depth--;
      pending = pendingStack[depth]!;
    }
    if (pos >= end) return INCOMPLETE;
    const b = buf[pos]!;
    pending--;
    let children = 0; // values contained by this one (array items, map keys + values)
    if (b < 0x80) {
      pos += 1; // positive fixint
    } else if (b >= 0xe0) {
      pos += 1; // negative fixint
    } else if (b < 0x90) {
      children = (b & 0x0f) * 2; // fixmap
      pos += 1;
    } else if (b < 0xa0) {
      children = b & 0x0f; // fixarray
      pos += 1;
    } else if (b < 0xc0) {
      pos += 1 + (b & 0x1f); // fixstr
    } else {
      switch (b) {
        case 0xc0: case 0xc2: case 0xc3:
          pos += 1; break;
        case 0xc4: case 0xd9: // bin8, str8
          if (pos + 2 > end) return INCOMPLETE;
          pos += 2 + buf[pos + 1]!; break;
        case 0xc5: case 0xda: // bin16, str16
          if (pos + 3 > end) return INCOMPLETE;
          pos += 3 + ((buf[pos + 1]! << 8) | buf[pos + 2]!); break;
        case 0xc6: case 0xdb: // bin32, str32
          if (pos + 5 > end) return INCOMPLETE;
          pos += 5 + readU32(buf, pos + 1); break;
        case 0xc7: // ext8
          if (pos + 2 > end) return INCOMPLETE;
          pos += 3 + buf[pos + 1]!; break;
        case 0xc8: // ext16
          if (pos + 3 > end) return INCOMPLETE;
          pos += 4 + ((buf[pos + 1]! << 8) | buf[pos + 2]!); break;
        case 0xc9: // ext32
          if (pos + 5 > end) return INCOMPLETE;
          pos += 6 + readU32(buf, pos + 1); break;
        case 0xca: case 0xce: case 0xd2: pos += 5; break; // float32, uint32, int32
        case 0xcb: case 0xcf: case 0xd3: pos += 9; break; // float64, uint64, int64
        case 0xcc: case 0xd0: pos += 2; break;
        case 0xcd: case 0xd1: pos += 3; break;
        case 0xd4: pos += 3; break; // fixext1
        case 0xd5: pos += 4; break;
        case 0xd6: pos += 6; break;
        case 0xd7: pos += 10; break;
        case 0xd8: pos += 18; break;
        case 0xdc: // array16
          if (pos + 3 > end) return INCOMPLETE;
          children = (buf[pos + 1]! << 8) | buf[pos + 2]!; pos += 3; break;
        case 0xdd: // array32
          if (pos + 5 > end) return INCOMPLETE;
          children = readU32(buf, pos + 1); pos += 5; break;
        case 0xde: // map16
          if (pos + 3 > end) return INCOMPLETE;
          children = ((buf[pos + 1]! << 8) | buf[pos + 2]!) * 2; pos += 3; break;
        case 0xdf: // map32
          if (pos + 5 > end) return INCOMPLETE;
          children = readU32(buf, pos + 1) * 2; pos += 5; break;
        default:
          return INVALID; // 0xc1
      }
      if (pos > end) return INCOMPLETE;
    }
    if (children > 0) {
      if (depth >= MAX_DEPTH) return INVALID;
      pendingStack[depth] = pending;
      depth++;
      pending = children;
    }
  }
}

export function readU32(buf: Uint8Array, pos: number): number {
  return buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
}

/** Returned by `readUintAt` when the value is not a non-negative integer below 2^53. */
export const NOT_UINT = -1;

/** Where the integer read by the last `readUintAt` ended (`INCOMPLETE` when it ran past `end`). */
export const uintEnd = { pos: 0 };

/**
 * Reads a non-negative MessagePack integer at `pos` (any width, signed or not).
 * Returns the value and sets `uintEnd.pos` to the position after it; `NOT_UINT`
 * when the bytes are another type (or run past `end`: then `uintEnd.pos` is
 * `INCOMPLETE`).
 */
export function readUintAt(buf: Uint8Array, pos: number, end: number): number {
  if (pos >= end) { uintEnd.pos = INCOMPLETE; return NOT_UINT; }
  const b = buf[pos]!;
  if (b < 0x80) { uintEnd.pos = pos + 1; return b; }
  let size: number;
  switch (b) {
    case 0xcc: case 0xd0: size = 1; break;
    case 0xcd: case 0xd1: size = 2; break;
    case 0xce: case 0xd2: size = 4; break;
    case 0xcf: case 0xd3: size = 8; break;
    default: uintEnd.pos = pos; return NOT_UINT;
  }
  if (pos + 1 + size > end) { uintEnd.pos = INCOMPLETE; return NOT_UINT; }
  const p = pos + 1;
  let v: number;
  if (size === 1) {
    v = buf[p]!;
    if (b === 0xd0 && v >= 0x80) v = NOT_UINT;
  } else if (size === 2) {
    v = (buf[p]! << 8) | buf[p + 1]!;
    if (b === 0xd1 && v >= 0x8000) v = NOT_UINT;
  } else if (size === 4) {
    v = readU32(buf, p);
    if (b === 0xd2 && v >= 0x80000000) v = NOT_UINT;
  } else {
    const hi = readU32(buf, p);
    v = hi >= 0x200000 ? NOT_UINT : hi * 0x100000000 + readU32(buf, p + 4);
  }
  uintEnd.pos = pos + 1 + size;
  return v;
}
