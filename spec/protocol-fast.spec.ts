import { expect } from 'chai';
import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { decodeOptions, encodeResult, packOptions } from '../lib/protocol/codec';
import { readEnd, readValue } from '../lib/protocol/read';
import { appendScalarResult, MAX_FAST_STRING, writeScalarResult } from '../lib/protocol/write';
import { SCAN_FLAG_UNSAFE_KEY, lastScanFlags, scanMessage } from '../lib/protocol/scan';

/*
 * The hand decoder (read.ts) and scalar encoder (write.ts) replace msgpackr on
 * the hot path only because they are faster; they must give exactly what
 * msgpackr gives with ringloop's options. These properties hold them to it.
 */
const reference = new Unpackr(decodeOptions);
const packr = new Packr(packOptions);

const TWO53 = 2n ** 53n;

const keyArb = fc.oneof(fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('constructor', 'toString', '', '1'));
const scalarArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }), // lone surrogates too: encoded bytes that are not UTF-8
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(2 ** 53, -(2 ** 53), 2 ** 32, -(2 ** 31) - 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, -32, -33, -128, -129, -32768, -32769),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }).filter((b) => b > TWO53 || b < -TWO53),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const { value: valueArb } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { arbitrary: scalarArb, weight: 3 },
    fc.array(tie('value'), { maxLength: 20 }),
    fc.array(fc.tuple(keyArb, tie('value')), { maxLength: 20 }).map((entries) => Object.fromEntries(entries)),
  ),
}));

/** 64-bit integers and float32 as raw MessagePack (msgpackr would write them otherwise). */
function raw(tag: number, write: (b: Buffer) => void, size: number): Buffer {
  const b = Buffer.alloc(1 + size);
  b[0] = tag;
  write(b);
  return b;
}
const wideArb = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((n) => raw(0xcf, (b) => b.writeBigUInt64BE(n, 1), 8)),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => raw(0xd3, (b) => b.writeBigInt64BE(n, 1), 8)),
  fc.constantFrom(TWO53 - 1n, TWO53, TWO53 + 1n).map((n) => raw(0xcf, (b) => b.writeBigUInt64BE(n, 1), 8)),
  fc.constantFrom(-TWO53 - 1n, -TWO53, -TWO53 + 1n, TWO53, TWO53 + 1n).map((n) => raw(0xd3, (b) => b.writeBigInt64BE(n, 1), 8)),
  fc.float().map((f) => raw(0xca, (b) => b.writeFloatBE(f, 1), 4)),
  fc.integer({ min: -128, max: 127 }).map((n) => raw(0xd0, (b) => b.writeInt8(n, 1), 1)),
  fc.integer({ min: -32768, max: 32767 }).map((n) => raw(0xd1, (b) => b.writeInt16BE(n, 1), 2)),
);

function sameAsMsgpackr(bytes: Buffer): void {
  // what the codec guarantees before calling readValue
  expect(scanMessage(bytes, 0, bytes.length)).to.equal(bytes.length);
  if ((lastScanFlags() & SCAN_FLAG_UNSAFE_KEY) !== 0) return;
  // at an offset inside a bigger buffer, as frames arrive
  const framed = Buffer.concat([Buffer.from([0xc0, 0xc0]), bytes, Buffer.from([0xc3])]);
  const got = readValue(framed, 2);
  expect(readEnd()).to.equal(2 + bytes.length);
  expect(got).to.deep.equal(reference.unpack(bytes));
}

describe('protocol/read: the hot-path decoder', () => {
  it('decodes every value exactly as msgpackr does with the codec options', () => {
    fc.assert(
      fc.property(valueArb, (v) => sameAsMsgpackr(packr.pack(v))),
      { numRuns: 3000 },
    );
  });

  it('decodes 64-bit integers, float32 and int8/int16 as msgpackr does (numbers up to ±2^53, BigInt beyond)', () => {
    fc.assert(
      fc.property(wideArb, (bytes) => sameAsMsgpackr(bytes)),
      { numRuns: 2000 },
    );
    expect(readValue(raw(0xcf, (b) => b.writeBigUInt64BE(TWO53, 1), 8), 0)).to.equal(2 ** 53);
    expect(readValue(raw(0xcf, (b) => b.writeBigUInt64BE(TWO53 + 1n, 1), 8), 0)).to.equal(TWO53 + 1n);
    expect(readValue(raw(0xd3, (b) => b.writeBigInt64BE(-TWO53, 1), 8), 0)).to.equal(-(2 ** 53));
    expect(readValue(raw(0xd3, (b) => b.writeBigInt64BE(-TWO53 - 1n, 1), 8), 0)).to.equal(-TWO53 - 1n);
  });

  it('decodes str8/16/32, bin8/16/32, array16/32 and map16/32 headers', () => {
    const long = 'é'.repeat(40000); // 80,000 UTF-8 bytes: str32
    for (const v of ['x'.repeat(31), 'x'.repeat(32), 'x'.repeat(300), long, Buffer.alloc(300, 7), Buffer.alloc(70000, 1), new Array(20).fill(1), new Array(70000).fill(0)]) {
      sameAsMsgpackr(packr.pack(v));
    }
    const big: Record<string, number> = {};
    for (let i = 0; i < 70000; i++) big['k' + i] = i;
    sameAsMsgpackr(new Packr({ ...packOptions, variableMapSize: true }).pack(big)); // map32
    // a hand-made array32 of 2 and map32 of 1 (msgpackr would use the short forms)
    sameAsMsgpackr(Buffer.from([0xdd, 0, 0, 0, 2, 0x01, 0xa1, 0x61]));
    sameAsMsgpackr(Buffer.from([0xdf, 0, 0, 0, 1, 0xa1, 0x6b, 0xc3]));
  });

  it('gives bin as a Buffer with its own memory, untouched when the frame is reused', () => {
    const frame = Buffer.from([0x92, 0xc4, 0x03, 1, 2, 3, 0xc0]);
    const got = readValue(frame, 0) as [Buffer, null];
    frame.fill(0);
    expect(Buffer.isBuffer(got[0])).to.equal(true);
    expect([...got[0]]).to.deep.equal([1, 2, 3]);
    expect(got[0].buffer).to.not.equal(frame.buffer);
  });

  it('turns scalar map keys into strings as msgpackr does', () => {
    // {1: a, nil: b, true: c, -1.5: d}
    sameAsMsgpackr(Buffer.from([0x84, 0x01, 0xa1, 0x61, 0xc0, 0xa1, 0x62, 0xc3, 0xa1, 0x63, 0xcb, ...Buffer.from([0xbf, 0xf8, 0, 0, 0, 0, 0, 0]), 0xa1, 0x64]));
  });
});

describe('protocol/write: the hot-path scalar encoder', () => {
  const msgidArb = fc.oneof(fc.nat({ max: 0xffffffff }), fc.constantFrom(0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff));
  // well-formed strings: msgpackr writes a lone surrogate as raw bytes, we as U+FFFD (both decode to U+FFFD)
  const fastArb: fc.Arbitrary<unknown> = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'grapheme', maxLength: 300 }),
    fc.string({ unit: 'grapheme-ascii', minLength: 250, maxLength: 300 }),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.constantFrom(0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, -32, -33, -128, -129, -32768, -32769, 2 ** 32 - 1, -(2 ** 31), -0),
    fc.boolean(),
    fc.constant(null),
  );

  it('writes [1, msgid, nil, result] byte for byte as msgpackr for strings, 32-bit integers, booleans and nil', () => {
    fc.assert(
      fc.property(msgidArb, fastArb, (msgid, v) => {
        const got = writeScalarResult(msgid, v);
        expect(got, 'fast path taken').to.not.equal(null);
        expect(Buffer.compare(got!, packr.pack([1, msgid, null, v]))).to.equal(0);
      }),
      { numRuns: 3000 },
    );
    expect(Buffer.compare(writeScalarResult(5, undefined)!, packr.pack([1, 5, null, null]))).to.equal(0);
    const maxFast = 'ü'.repeat(MAX_FAST_STRING); // str16 of 8,192 bytes
    expect(Buffer.compare(writeScalarResult(1, maxFast)!, packr.pack([1, 1, null, maxFast]))).to.equal(0);
  });

  it('writes integers beyond 32 bits itself, as the smallest integer (msgpackr would write float64 / int64)', () => {
    const cases: Array<[number | bigint, string]> = [
      [2 ** 32, 'cf0000000100000000'],
      [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
      [2 ** 53, 'cf0020000000000000'],
      [10n, '0a'],
      [-(2n ** 63n), 'd38000000000000000'],
    ];
    for (const [v, hex] of cases) expect(writeScalarResult(1, v)!.subarray(4).toString('hex'), String(v)).to.equal(hex);
  });

  it('leaves floats, long strings, bin and containers to msgpackr', () => {
    for (const v of [0.5, NaN, Infinity, 2 ** 64, 2n ** 64n, 'x'.repeat(MAX_FAST_STRING + 1), Buffer.from([1]), [1], { a: 1 }]) {
      expect(writeScalarResult(1, v), String(v).slice(0, 20)).to.equal(null);
      if (typeof v !== 'bigint') expect(Buffer.compare(encodeResult(1, v), packr.pack([1, 1, null, v]))).to.equal(0);
    }
  });

  it('queues a run of answers as slab ranges: consecutive ones adjoin, the bytes are msgpackr\'s, non-scalars are refused', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(msgidArb, fastArb), { minLength: 1, maxLength: 400 }), (answers) => {
        const ranges: Array<[Buffer, number, number]> = [];
        const sink = { writeRange: (buf: Buffer, start: number, end: number) => ranges.push([buf, start, end]) };
        for (const [msgid, v] of answers) expect(appendScalarResult(sink, msgid, v)).to.equal(true);
        expect(ranges.length).to.equal(answers.length);
        for (let i = 1; i < ranges.length; i++) {
          // Same slab: the next answer starts where the last ended (a new slab starts at 0).
          if (ranges[i]![0] === ranges[i - 1]![0]) expect(ranges[i]![1]).to.equal(ranges[i - 1]![2]);
          else expect(ranges[i]![1]).to.equal(0);
        }
        const got = Buffer.concat(ranges.map(([b, s0, e]) => b.subarray(s0, e)));
        expect(Buffer.compare(got, Buffer.concat(answers.map(([id, v]) => packr.pack([1, id, null, v]))))).to.equal(0);
      }),
      { numRuns: 300 },
    );
    const sink = { writeRange: () => expect.fail('nothing may be queued') };
    for (const v of [0.5, 2 ** 64, 'x'.repeat(MAX_FAST_STRING + 1), Buffer.from([1]), [1], { a: 1 }]) expect(appendScalarResult(sink, 1, v)).to.equal(false);
  });

  it('keeps every returned buffer intact across slab changes', () => {
    const kept: Array<[number, Buffer, string]> = [];
    for (let i = 0; i < 20000; i++) {
      const s = `r${i}:` + 'é'.repeat(i % 50);
      kept.push([i, writeScalarResult(i, s)!, s]);
    }
    for (const [i, b, s] of kept) expect(reference.unpack(b)).to.deep.equal([1, i, null, s]);
  });
});
