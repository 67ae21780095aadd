import { expect } from 'chai';
import fc from 'fast-check';
import { decodeAny, encodeRequest } from '../lib/protocol/codec';
import { StreamDecoder } from '../lib/protocol/stream';

function feed(dec: StreamDecoder, data: Uint8Array, cuts: number[]): { out: Buffer[]; err: string | null } {
  const out: Buffer[] = [];
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...points, data.length]) {
    if (p <= prev) continue;
    const err = dec.push(data.subarray(prev, p), (m) => out.push(Buffer.from(m)));
    if (err) return { out, err };
    prev = p;
  }
  return { out, err: null };
}

const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 4 }),
  ),
})).v;

describe('TCP stream framing (StreamDecoder)', () => {
  it('any split of a valid stream delivers exactly its messages, in order, at message boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.string(), fc.array(value, { maxLength: 4 })), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (msgs, cuts) => {
          const parts = msgs.map(([id, m, p]) => encodeRequest(id, m, p));
          const data = Buffer.concat(parts);
          const { out, err } = feed(new StreamDecoder(1 << 20), data, cuts);
          expect(err).to.equal(null);
          expect(Buffer.concat(out).equals(data)).to.equal(true);
          const decoded = out.flatMap((o) => decodeAny(o));
          expect(decoded).to.have.length(parts.length);
          expect(decoded).to.deep.equal(parts.map((p) => decodeAny(p)[0]));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('one byte at a time, a message of 20,000 small items (the case naive rescanning makes quadratic)', () => {
    const data = encodeRequest(1, 'echo', [Array.from({ length: 20000 }, (_, i) => i % 100)]);
    const dec = new StreamDecoder(1 << 20);
    const out: Buffer[] = [];
    for (let i = 0; i < data.length; i++) expect(dec.push(data.subarray(i, i + 1), (m) => out.push(Buffer.from(m)))).to.equal(null);
    expect(out).to.have.length(1);
    expect(out[0].equals(data)).to.equal(true);
    expect(dec.buffered).to.equal(0);
  });

  it('rejects invalid bytes wherever the split falls', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
        const data = Buffer.concat([encodeRequest(1, 'echo', ['ok']), Buffer.from([0x92, 0x01, 0xc1])]);
        const { out, err } = feed(new StreamDecoder(1 << 20), data, cuts);
        expect(err).to.equal('invalid');
        expect(Buffer.concat(out).length).to.be.at.most(data.length - 3);
      }),
    );
  });

  it('refuses a message, complete or not, larger than its bound, holding no more than that', () => {
    const data = encodeRequest(1, 'echo', ['w'.repeat(5000)]);
    const dec = new StreamDecoder(4096);
    expect(dec.push(data.subarray(0, 3000), () => undefined)).to.equal(null);
    expect(dec.buffered).to.equal(3000);
    expect(dec.push(data.subarray(3000, 4200), () => undefined)).to.equal('too-large');
    expect(new StreamDecoder(4096).push(data, () => undefined)).to.equal('too-large');
  });
});
