import { expect } from 'chai';
import fc from 'fast-check';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { HEADER_BYTES, READ, RingReader, RingWriter, SLEEP, WRITE, createRing, frameBytes } from '../lib/pool/ring';

/** Body byte k of frame `seq`: the consumer checks every byte. */
function fill(u8: Uint8Array, at: number, seq: number, len: number): void {
  for (let k = 0; k < len; k++) u8[at + k] = (seq * 31 + k * 7) & 0xff;
}

// The consumer thread: reads frames as published, checks order, length and
// every byte, sleeps on WRITE (SLEEP flag, re-check) when the ring is empty,
// releases in batches, and reports what it saw.
const CONSUMER = `
const { parentPort } = require('node:worker_threads');
const { RingReader, SLEEP, WRITE } = require(${JSON.stringify(path.join(__dirname, '../lib/pool/ring.js'))});
parentPort.on('message', ({ sab, count, sizes }) => {
  const r = new RingReader(sab);
  let seq = 0, bad = 0, sleeps = 0, batches = 0;
  while (seq < count) {
    let off, n = 0;
    while ((off = r.next()) >= 0) {
      const len = r.bodyLength(off);
      if (len !== sizes[seq]) bad++;
      const at = off + 16;
      for (let k = 0; k < len; k++) if (r.u8[at + k] !== ((seq * 31 + k * 7) & 0xff)) { bad++; break; }
      seq++; n++;
    }
    if (n > 0) { r.release(); batches++; continue; }
    Atomics.store(r.ctl, SLEEP, 1);
    if (!r.hasData()) { sleeps++; Atomics.wait(r.ctl, WRITE, r.seen, 1000); }
    Atomics.store(r.ctl, SLEEP, 0);
  }
  parentPort.postMessage({ seq, bad, sleeps, batches });
});
`;

describe('pool ring (SharedArrayBuffer SPSC)', () => {
  let consumer: Worker;
  before(() => {
    consumer = new Worker(CONSUMER, { eval: true });
  });
  after(() => consumer.terminate());

  it('reports full, wraps frames to offset 0 without splitting them, and frees space on release', () => {
    const sab = createRing(256);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    expect(w.maxBody).to.equal(128 - HEADER_BYTES);
    expect(() => w.reserve(w.maxBody + 1)).to.throw(RangeError);
    // 3 frames of 80 bytes (16 header + 60 body, padded to 80) fill 240 of 256 bytes
    const offs = [0, 1, 2].map((seq) => {
      const off = w.reserve(60);
      fill(w.u8, off + 16, seq, 60);
      return off;
    });
    expect(offs).to.deep.equal([0, 80, 160]);
    expect(w.reserve(60), 'full ring').to.equal(-1);
    expect(r.next(), 'nothing published yet').to.equal(-1);
    w.publish();
    expect(r.next()).to.equal(0);
    expect(r.next()).to.equal(80);
    expect(w.reserve(60), 'read but not released: still full').to.equal(-1);
    r.release();
    expect(Atomics.load(w.ctl, READ)).to.equal(160);
    // 16 bytes left before the end: the next frame wraps to offset 0 (a WRAP marker fills the tail)
    const wrapped = w.reserve(60);
    expect(wrapped).to.equal(0);
    fill(w.u8, 16, 3, 60);
    w.publish();
    expect(r.next()).to.equal(160);
    const off = r.next();
    expect(off, 'reader follows the wrap marker').to.equal(0);
    expect(r.bodyLength(off)).to.equal(60);
    expect(r.u8[16 + 59]).to.equal((3 * 31 + 59 * 7) & 0xff);
    expect(r.next()).to.equal(-1);
    r.release();
    expect(w.used()).to.equal(0);
    expect(frameBytes(0)).to.equal(16);
  });

  it('positions wrap past 2^31 (int32) without losing frames', () => {
    const sab = createRing(1024);
    const ctl = new Int32Array(sab, 0, 32);
    // start both ends just below the int32 limit
    Atomics.store(ctl, WRITE, 0x7fffff00);
    Atomics.store(ctl, READ, 0x7fffff00);
    const w = new RingWriter(sab);
    const r = new RingReader(sab);
    for (let seq = 0; seq < 200; seq++) {
      const off = w.reserve(seq % 50);
      expect(off).to.be.at.least(0);
      fill(w.u8, off + 16, seq, seq % 50);
      w.publish();
      const got = r.next();
      expect(got).to.equal(off);
      expect(r.bodyLength(got)).to.equal(seq % 50);
      r.release();
    }
    expect(Atomics.load(ctl, WRITE)).to.be.below(0); // wrapped to negative int32
    expect(w.used()).to.equal(0);
  });

  it('carries any sequence of frame sizes intact to a consumer thread (wrap-around, full ring, batching, sleep/wake)', async function () {
    this.timeout(15000);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(256, 512, 1024, 4096),
        fc.array(fc.nat(), { minLength: 1, maxLength: 600 }),
        fc.integer({ min: 1, max: 40 }),
        async (capacity, raw, batch) => {
          const sab = createRing(capacity);
          const w = new RingWriter(sab);
          const sizes = raw.map((x) => x % (w.maxBody + 1));
          const seen = new Promise<{ seq: number; bad: number }>((resolve) => consumer.once('message', resolve));
          consumer.postMessage({ sab, count: sizes.length, sizes });
          let fulls = 0;
          for (let seq = 0; seq < sizes.length; ) {
            const off = w.reserve(sizes[seq]);
            if (off < 0) {
              // full: publish and give the consumer time (the producer never blocks)
              fulls++;
              w.publish();
              await new Promise((r) => setImmediate(r));
              continue;
            }
            fill(w.u8, off + 16, seq, sizes[seq]);
            seq++;
            if (seq % batch === 0) w.publish();
          }
          w.publish();
          const res = await seen;
          expect(res.bad).to.equal(0);
          expect(res.seq).to.equal(sizes.length);
          void fulls;
        },
      ),
      { numRuns: 25 },
    );
  });

  it('publishes a burst with one store and wakes a sleeping consumer once per burst, never losing a frame to the race', async () => {
    const sab = createRing(4096);
    const w = new RingWriter(sab);
    const sizes = Array.from({ length: 3000 }, (_, i) => i % 30);
    const seen = new Promise<{ seq: number; bad: number; sleeps: number; batches: number }>((resolve) => consumer.once('message', resolve));
    consumer.postMessage({ sab, count: sizes.length, sizes });
    let woke = 0;
    let publishes = 0;
    for (let seq = 0; seq < sizes.length; seq++) {
      let off: number;
      while ((off = w.reserve(sizes[seq])) < 0) {
        // ring full: publish and retry; how often depends on how fast the consumer thread gets a CPU
        publishes++;
        if (w.publish()) woke++;
        await new Promise((r) => setImmediate(r));
      }
      fill(w.u8, off + 16, seq, sizes[seq]);
      if (seq % 100 === 99) {
        // end of a burst: one publish, then a pause long enough for the consumer to fall asleep
        publishes++;
        if (w.publish()) woke++;
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    const res = await seen;
    expect(res.bad).to.equal(0);
    expect(res.seq).to.equal(sizes.length);
    expect(res.sleeps, 'the consumer slept between bursts').to.be.greaterThan(5);
    expect(woke, 'notified only when the consumer slept').to.be.greaterThan(0).and.at.most(publishes);
    // frames become visible only at a publish (one store), so the consumer sees at most one batch per publish
    expect(res.batches, 'batches seen by the consumer').to.be.at.most(publishes);
    expect(res.batches, 'the consumer released in batches').to.be.below(sizes.length / 5);
    expect(Atomics.load(w.ctl, SLEEP)).to.be.oneOf([0, 1]);
  });
});
