import { expect } from 'chai';
import fc from 'fast-check';
import { decode, encode as referenceEncode } from '@msgpack/msgpack';
import { encode } from '../lib/client/codec';

describe('client codec: integers leave as integers', () => {
  it('writes every safe integer, nested in arrays, exactly as @msgpack/msgpack does (smallest integer form, never float64)', () => {
    // Non-integral doubles only: an integral double beyond 2**53 is an integer to ringloop (int64), a float to the reference.
    const scalar = fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.string(), fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)));
    fc.assert(
      fc.property(fc.array(fc.oneof(scalar, fc.array(scalar))), (items) => {
        const msg = [0, 7, 'echo', [items]];
        expect(Buffer.from(encode(msg)).toString('hex')).to.equal(Buffer.from(referenceEncode(msg)).toString('hex'));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps values in maps intact (msgpackr writes maps as map16; the values are what count)', () => {
    fc.assert(
      fc.property(fc.string().filter((k) => k !== '__proto__'), fc.maxSafeInteger(), (k, v) => {
        const msg = [2, 'x', [{ [k]: v }]];
        const bytes = Buffer.from(encode(msg));
        expect(decode(bytes)).to.deep.equal(msg);
        // The value is the last thing in the message: its bytes are the reference's smallest integer.
        const ref = Buffer.from(referenceEncode(v));
        expect(bytes.subarray(bytes.length - ref.length).equals(ref)).to.equal(true);
      }),
      { numRuns: 300 },
    );
  });

  it('writes 2**40, -2**40 and 2**53 - 1 as uint64/int64, not float64', () => {
    for (const [n, tag] of [
      [2 ** 40, 0xcf],
      [-(2 ** 40), 0xd3],
      [2 ** 53 - 1, 0xcf],
    ] as const) {
      const bytes = encode([2, 'x', [n]]);
      expect(bytes[bytes.length - 9], `${n}`).to.equal(tag);
    }
  });
});
