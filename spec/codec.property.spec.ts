import { expect } from 'chai';
import fc from 'fast-check';
import { Packr, Unpackr, unpack } from 'msgpackr';
import {
  FrameError,
  FrameSink,
  decodeFrame,
  encodeError,
  encodeNotification,
  encodeRequest,
  encodeResult,
} from '../lib/protocol/codec';
import { SCAN_INCOMPLETE, SCAN_INVALID, scanMessage } from '../lib/protocol/scan';
import { ErrorCode } from '../lib/errors';

/*
 * An independent reference decoder: plain recursive descent written from the
 * MessagePack spec, sharing no code with lib/protocol. It decodes one value
 * with ringloop's rules (depth <= 64, no 0xc1, no extension types, uint64/int64
 * as numbers up to 2^53, maps as plain objects with own keys) and reports
 * whether a map key had no property form and whether a string was not UTF-8.
 */
class RefError extends Error {
  constructor(readonly kind: 'truncated' | 'invalid') {
    super(kind);
  }
}

interface RefValue {
  value: unknown;
  end: number;
  badKey: boolean;
  badUtf8: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const TWO53 = 2n ** 53n;

function refReadOne(b: Buffer, start: number): RefValue {
  let pos = start;
  let badKey = false;
  let badUtf8 = false;
  const need = (n: number): void => {
    if (pos + n > b.length) throw new RefError('truncated');
  };
  const take = (n: number): Buffer => {
    need(n);
    const s = b.subarray(pos, pos + n);
    pos += n;
    return s;
  };
  const str = (n: number): string => {
    const bytes = take(n);
    try {
      utf8.decode(bytes);
    } catch {
      badUtf8 = true;
    }
    return bytes.toString('utf8');
  };
  const bin = (n: number): Buffer => Buffer.from(take(n));
  const big = (v: bigint): number | bigint => (v >= -TWO53 && v <= TWO53 ? Number(v) : v);
  const openContainer = (depth: number): void => {
    if (depth + 1 > 64) throw new RefError('invalid');
  };
  const arr = (n: number, depth: number): unknown[] => {
    openContainer(depth);
    const a: unknown[] = [];
    for (let i = 0; i < n; i++) a.push(read(depth + 1));
    return a;
  };
  const map = (n: number, depth: number): Record<string, unknown> => {
    openContainer(depth);
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = read(depth + 1);
      const v = read(depth + 1);
      let key: string;
      if (typeof k === 'string') key = k;
      else if (k === null || typeof k === 'number' || typeof k === 'boolean' || typeof k === 'bigint') key = String(k);
      else {
        badKey = true;
        key = '?';
      }
      Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return o;
  };
  // depth: number of containers around the value being read
  function read(depth: number): unknown {
    const t = take(1)[0];
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t >= 0xa0 && t <= 0xbf) return str(t - 0xa0);
    if (t >= 0x90 && t <= 0x9f) return arr(t - 0x90, depth);
    if (t >= 0x80 && t <= 0x8f) return map(t - 0x80, depth);
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return bin(take(1).readUInt8(0));
      case 0xc5:
        return bin(take(2).readUInt16BE(0));
      case 0xc6:
        return bin(take(4).readUInt32BE(0));
      case 0xca:
        return take(4).readFloatBE(0);
      case 0xcb:
        return take(8).readDoubleBE(0);
      case 0xcc:
        return take(1).readUInt8(0);
      case 0xcd:
        return take(2).readUInt16BE(0);
      case 0xce:
        return take(4).readUInt32BE(0);
      case 0xcf:
        return big(take(8).readBigUInt64BE(0));
      case 0xd0:
        return take(1).readInt8(0);
      case 0xd1:
        return take(2).readInt16BE(0);
      case 0xd2:
        return take(4).readInt32BE(0);
      case 0xd3:
        return big(take(8).readBigInt64BE(0));
      case 0xd9:
        return str(take(1).readUInt8(0));
      case 0xda:
        return str(take(2).readUInt16BE(0));
      case 0xdb:
        return str(take(4).readUInt32BE(0));
      case 0xdc:
        return arr(take(2).readUInt16BE(0), depth);
      case 0xdd:
        return arr(take(4).readUInt32BE(0), depth);
      case 0xde:
        return map(take(2).readUInt16BE(0), depth);
      case 0xdf:
        return map(take(4).readUInt32BE(0), depth);
      default:
        throw new RefError('invalid'); // 0xc1, ext 0xc7-0xc9, fixext 0xd4-0xd8
    }
  }
  const value = read(0);
  return { value, end: pos, badKey, badUtf8 };
}

function refDecodeAll(b: Buffer): RefValue[] {
  const out: RefValue[] = [];
  let pos = 0;
  while (pos < b.length) {
    const v = refReadOne(b, pos);
    out.push(v);
    pos = v.end;
  }
  return out;
}

type Call = unknown[];

function run(bytes: Uint8Array): { calls: Call[]; err: FrameError | null } {
  const calls: Call[] = [];
  const sink: FrameSink = {
    request: (msgid, method, params) => calls.push(['request', msgid, method, params]),
    notification: (method, params) => calls.push(['notification', method, params]),
    invalid: (msgid) => calls.push(['invalid', msgid]),
  };
  return { calls, err: decodeFrame(bytes, sink) };
}

/** What the contract says decodeFrame must do, computed from the reference decoding. */
function oracle(b: Buffer): { calls: Call[]; close: 1007 | 1002 | null; exact: boolean } {
  let msgs: RefValue[];
  try {
    msgs = refDecodeAll(b);
  } catch (e) {
    if (e instanceof RefError) return { calls: [], close: 1007, exact: true };
    throw e;
  }
  if (msgs.length === 0) return { calls: [], close: 1007, exact: true };
  const calls: Call[] = [];
  // params are compared only when every string was UTF-8 (replacement of bad bytes may differ)
  let exact = true;
  for (const m of msgs) {
    const v = m.value;
    if (!Array.isArray(v)) return { calls, close: 1002, exact };
    const id: unknown = v[1];
    if (v[0] === 0 && typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0xffffffff) {
      if (v.length === 4 && typeof v[2] === 'string' && Array.isArray(v[3]) && !m.badKey) {
        calls.push(['request', id, v[2], v[3]]);
        exact &&= !m.badUtf8;
      } else {
        calls.push(['invalid', id]);
      }
    } else if (v[0] === 2 && v.length === 3 && typeof v[1] === 'string' && Array.isArray(v[2]) && !m.badKey) {
      calls.push(['notification', v[1], v[2]]);
      exact &&= !m.badUtf8;
    } else {
      return { calls, close: 1002, exact };
    }
  }
  return { calls, close: null, exact };
}

// ---------------------------------------------------------------- arbitraries

const keyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'toJSON', 'valueOf', '', '1'),
);

const scalarArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.bigInt({ min: TWO53 + 1n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: -(2n ** 63n), max: -TWO53 - 1n }),
  fc.double().filter((d) => !Object.is(d, -0)), // -0 packs as integer 0 (by design)
  fc.boolean(),
  fc.constant(null),
);

// Maps are built with Object.fromEntries: plain prototype, and "__proto__" as an own key.
const { value: valueArb } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarArb,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.array(fc.tuple(keyArb, tie('value')), { maxLength: 5 }).map((entries) => Object.fromEntries(entries)),
  ),
}));

// A value wrapped in k more arrays/maps, so that deep nesting up to the limit is covered too.
function wrap(v: unknown, shape: boolean[]): unknown {
  let out = v;
  for (const isMap of shape) out = isMap ? { k: out } : [out];
  return out;
}

function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + v.reduce((m: number, x) => Math.max(m, depthOf(x)), 0);
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return 1 + Object.values(v).reduce((m: number, x) => Math.max(m, depthOf(x)), 0);
  }
  return 0;
}

// params sit at depth 2 (envelope, params array)
const paramsArb = fc.oneof(
  { arbitrary: fc.array(valueArb, { maxLength: 4 }), weight: 4 },
  {
    arbitrary: fc
      .tuple(valueArb, fc.array(fc.boolean(), { maxLength: 62 }))
      .map(([v, shape]) => [wrap(v, shape)])
      .filter((p) => 1 + depthOf(p) <= 64),
    weight: 1,
  },
);

type Msg = { kind: 'request'; msgid: number; method: string; params: unknown[] } | { kind: 'notification'; method: string; params: unknown[] };

const msgArb: fc.Arbitrary<Msg> = fc.oneof(
  fc.record({
    kind: fc.constant('request' as const),
    msgid: fc.oneof(fc.nat({ max: 0xffffffff }), fc.constantFrom(0, 0xffffffff, 0x7f, 0x80, 0xffff, 0x10000)),
    method: fc.string({ unit: 'binary', maxLength: 12 }),
    params: paramsArb,
  }),
  fc.record({ kind: fc.constant('notification' as const), method: fc.string({ unit: 'binary', maxLength: 12 }), params: paramsArb }),
);

function encodeMsg(m: Msg): Buffer {
  return m.kind === 'request' ? encodeRequest(m.msgid, m.method, m.params) : encodeNotification(m.method, m.params);
}

/**
 * A value as it comes back after ringloop encodes it: every integral number in
 * [-2^63, 2^64) goes out as an integer, and integers decode as numbers when
 * they fit `limit` (2^53 for int64AsType 'auto', 2^31 for msgpackr's default of
 * BigInt for every int64/uint64) and as BigInt otherwise.
 */
function wireInts(v: unknown, limit: 'auto' | 'int32'): unknown {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < -(2 ** 63) || v >= 2 ** 64) return v;
    const small = limit === 'auto' ? Math.abs(v) <= 2 ** 53 : v >= -(2 ** 31) && v < 2 ** 32;
    return small ? v : BigInt(v);
  }
  if (Array.isArray(v)) return v.map((x) => wireInts(x, limit));
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wireInts(x, limit)]));
  }
  return v;
}

function expectedCall(m: Msg): Call {
  const params = wireInts(m.params, 'auto') as unknown[];
  return m.kind === 'request' ? ['request', m.msgid, m.method, params] : ['notification', m.method, params];
}

// Valid frames, then corrupted: byte overwrites, truncation, or junk appended.
const frameArb = fc.array(msgArb, { minLength: 1, maxLength: 4 }).map((ms) => Buffer.concat(ms.map(encodeMsg)));
const mutatedFrameArb = fc
  .tuple(frameArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat(), fc.boolean())
  .map(([frame, edits, cut, truncate]) => {
    const b = Buffer.from(frame);
    for (const [at, byte] of edits) b[at % b.length] = byte;
    return truncate ? b.subarray(0, cut % (b.length + 1)) : b;
  });

// Envelope-shaped messages with wrong parts: types, msgids (negative, float, huge, string...), lengths.
const loosePackr = new Packr({ useRecords: false });
const looseMsgArb = fc
  .array(
    fc.oneof(
      fc.constantFrom(0, 1, 2, 3, -1, 0.5, 4294967295, 4294967296, '0', 'm', null),
      fc.integer(),
      fc.double(),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
      fc.string({ maxLength: 4 }),
      fc.array(fc.integer({ min: -2, max: 300 }), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2, noNullPrototype: true }),
    ),
    { maxLength: 5 },
  )
  .map((parts) => Buffer.from(loosePackr.pack(parts)));
// [0, uint32, ...] with the rest right or wrong: exercises INVALID_REQUEST against requests.
const looseRequestArb = fc
  .tuple(
    fc.nat({ max: 0xffffffff }),
    fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null), fc.array(fc.nat(), { maxLength: 2 })),
    fc.oneof(fc.array(fc.nat(), { maxLength: 2 }), fc.string({ maxLength: 2 }), fc.constant(null), fc.dictionary(fc.string({ maxLength: 2 }), fc.nat(), { maxKeys: 2, noNullPrototype: true })),
    fc.array(fc.nat(), { maxLength: 2 }),
    fc.integer({ min: 2, max: 5 }),
  )
  .map(([id, method, params, extra, len]) => Buffer.from(loosePackr.pack([0, id, method, params, ...extra].slice(0, len))));
const looseFrameArb = fc.array(fc.oneof(looseMsgArb, looseRequestArb), { minLength: 1, maxLength: 4 }).map((ms) => Buffer.concat(ms));

const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 48 }).map((u) => Buffer.from(u)),
  mutatedFrameArb,
  looseFrameArb,
  frameArb,
);

function hasProtoKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasProtoKey);
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.keys(v).some((k) => k === '__proto__') || Object.values(v).some(hasProtoKey);
  }
  return false;
}

// ---------------------------------------------------------------- properties

describe('protocol/codec properties', () => {
  it('the reference decoder agrees with msgpackr on valid input', () => {
    // keeps the oracle honest: whatever it decodes, msgpackr decodes to the same values
    const plain = new Unpackr({ useRecords: false, int64AsType: 'auto' } as unknown as ConstructorParameters<typeof Unpackr>[0]);
    const norm = (x: unknown): unknown =>
      typeof x === 'bigint'
        ? x.toString()
        : Array.isArray(x)
          ? x.map(norm)
          : x !== null && typeof x === 'object' && !Buffer.isBuffer(x)
            ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, norm(y)]))
            : x;
    fc.assert(
      fc.property(frameArb, (frame) => {
        const ref = refDecodeAll(frame).map((m) => m.value);
        const viaMsgpackr = plain.unpackMultiple(frame);
        expect(viaMsgpackr).to.have.length(ref.length);
        // msgpackr alone renames a "__proto__" key, so compare values only without one
        if (!ref.some(hasProtoKey)) expect(norm(viaMsgpackr)).to.deep.equal(norm(ref));
      }),
      { numRuns: 150 },
    );
  });

  it('(1) requests and notifications round-trip through encodeRequest/encodeNotification -> decodeFrame', () => {
    fc.assert(
      fc.property(fc.array(msgArb, { minLength: 1, maxLength: 5 }), (msgs) => {
        const frame = Buffer.concat(msgs.map(encodeMsg));
        const { calls, err } = run(frame);
        expect(err).to.equal(null);
        expect(calls).to.deep.equal(msgs.map(expectedCall));
      }),
      { numRuns: 300 },
    );
  });

  it('(2) arbitrary bytes never throw; the outcome is exactly what the contract and the reference decoder say', () => {
    fc.assert(
      fc.property(bytesArb, (bytes) => {
        let got: { calls: Call[]; err: FrameError | null } | undefined;
        expect(() => {
          got = run(bytes);
        }).to.not.throw();
        const { calls, err } = got as { calls: Call[]; err: FrameError | null };
        expect(err === null || err.close === 1007 || err.close === 1002).to.equal(true);
        const want = oracle(bytes);
        expect(err === null ? null : err.close).to.equal(want.close);
        if (want.close === 1007) {
          expect(calls).to.deep.equal([]); // validated before any delivery
          // Cross-check with msgpackr: the bytes really are not plain MessagePack
          // when msgpackr either throws or can only decode them through its
          // extensions, the 0xc1 sentinel or more than 64 levels.
          if (bytes.length > 0) expect(msgpackrRejectsOrNeedsMore(bytes)).to.equal(true);
        }
        const shape = (c: Call): Call => (want.exact ? c : c.slice(0, c[0] === 'notification' ? 1 : 2));
        expect(calls.map(shape)).to.deep.equal(want.calls.map(shape));
        // the scanner alone agrees with the reference on the first value
        if (bytes.length > 0) {
          let expected: number;
          try {
            expected = refReadOne(bytes, 0).end;
          } catch (e) {
            expected = (e as RefError).kind === 'truncated' ? SCAN_INCOMPLETE : SCAN_INVALID;
          }
          expect(scanMessage(bytes, 0, bytes.length)).to.equal(expected);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('(3) encodeResult / encodeError output decodes with independent decoders to exactly the envelope', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), valueArb, (id, result) => {
        const out = encodeResult(id, result);
        const ref = refDecodeAll(out);
        expect(ref).to.have.length(1);
        expect(ref[0].value).to.deep.equal([1, id, null, wireInts(result, 'auto')]);
        // msgpackr with default options (every uint64/int64 as BigInt there); alone it renames a "__proto__" key
        if (!hasProtoKey(result)) expect(unpack(out)).to.deep.equal([1, id, null, wireInts(result, 'int32')]);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffffffff }),
        fc.constantFrom(...Object.values(ErrorCode)),
        fc.string({ unit: 'binary', maxLength: 30 }),
        fc.option(valueArb, { nil: undefined }),
        (id, code, message, data) => {
          const out = encodeError(id, data === undefined ? { code, message } : { code, message, data });
          const ref = refDecodeAll(out);
          expect(ref).to.have.length(1);
          expect(ref[0].value).to.deep.equal([1, id, data === undefined ? { code, message } : { code, message, data: wireInts(data, 'auto') }, null]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

// msgpackr with maps as Map: any other object it returns (record, Error, RegExp, Set, Date,
// typed array, the C1 sentinel) or undefined/BigInt came from something plain MessagePack lacks.
const markerUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'string' });

function msgpackrRejectsOrNeedsMore(b: Buffer): boolean {
  let values: unknown[];
  try {
    values = markerUnpackr.unpackMultiple(b);
  } catch {
    return true;
  }
  const marked = (v: unknown, depth: number): boolean => {
    if (v === undefined || typeof v === 'bigint') return true;
    if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return false;
    if (depth + 1 > 64) return true;
    if (Array.isArray(v)) return v.some((x) => marked(x, depth + 1));
    if (v instanceof Map) return [...v].some(([k, x]) => marked(k, depth + 1) || marked(x, depth + 1));
    return true;
  };
  return values.some((v) => marked(v, 0));
}
