/**
 * FIFO micro-benchmarks (benchmark.js): the worker pool's SharedArrayBuffer
 * ring (lib/pool/ring.ts, both ends on one thread here) against `denque` and
 * a plain Array, with a small and a large standing queue.
 *
 *   npx tsc -p tsconfig.json && node dist/benchmarks/queue.bench.js [--quick]
 *
 * One operation = 64 items in then 64 items out, the queue holding `depth`
 * items throughout (so Array.shift pays for a long array at 100k). An item is
 * a small task: four numbers. Array and denque carry it as an object; the ring
 * as a 16-byte frame body written into the shared memory (its frames are
 * published and released once per 64, the way the pool batches). Writes
 * benchmarks/results/queue-<date>[-quick].json.
 */
import Denque from 'denque';
import { createRing, RingReader, RingWriter, HEADER_BYTES } from '../lib/pool/ring';
import { runMicro, type MicroCase } from './micro';

const BATCH = 64;

interface Task {
  id: number;
  a: number;
  b: number;
  c: number;
}

let check = 0;

function arrayCase(depth: number): () => void {
  const q: Task[] = [];
  let id = 0;
  for (let i = 0; i < depth; i++) q.push({ id: id++, a: 1, b: 2, c: 3 });
  return () => {
    for (let i = 0; i < BATCH; i++) q.push({ id: id++, a: 1, b: 2, c: 3 });
    for (let i = 0; i < BATCH; i++) check += q.shift()!.id;
  };
}

function denqueCase(depth: number): () => void {
  const q = new Denque<Task>();
  let id = 0;
  for (let i = 0; i < depth; i++) q.push({ id: id++, a: 1, b: 2, c: 3 });
  return () => {
    for (let i = 0; i < BATCH; i++) q.push({ id: id++, a: 1, b: 2, c: 3 });
    for (let i = 0; i < BATCH; i++) check += q.shift()!.id;
  };
}

function ringCase(depth: number): () => void {
  // 16-byte header + 16-byte body = 32 bytes a frame; room for depth + a batch, rounded up to a power of two.
  let capacity = 4096;
  while (capacity < (depth + 2 * BATCH) * 32 * 2) capacity *= 2;
  const sab = createRing(capacity);
  const w = new RingWriter(sab);
  const r = new RingReader(sab);
  let id = 0;
  const put = (): void => {
    const off = w.reserve(16);
    if (off < 0) throw new Error('ring full');
    const i = (off + HEADER_BYTES) >> 2;
    w.i32[i] = id++;
    w.i32[i + 1] = 1;
    w.i32[i + 2] = 2;
    w.i32[i + 3] = 3;
  };
  for (let i = 0; i < depth; i++) put();
  w.publish();
  return () => {
    for (let i = 0; i < BATCH; i++) put();
    w.publish();
    for (let i = 0; i < BATCH; i++) {
      const off = r.next();
      check += r.i32[(off + HEADER_BYTES) >> 2]!;
    }
    r.release();
  };
}

const cases: MicroCase[] = [];
for (const depth of [16, 100_000]) {
  const group = `push+shift, ${depth.toLocaleString('en-US')} queued`;
  cases.push(
    { group, name: `pool ring (SharedArrayBuffer), depth ${depth}`, perOp: BATCH, fn: ringCase(depth) },
    { group, name: `denque, depth ${depth}`, perOp: BATCH, fn: denqueCase(depth) },
    { group, name: `Array push/shift, depth ${depth}`, perOp: BATCH, fn: arrayCase(depth) },
  );
}

runMicro(
  {
    name: 'queue',
    quick: process.argv.includes('--quick'),
    description: `FIFO of small tasks (4 numbers): ${BATCH} in then ${BATCH} out per operation with a standing queue; lib/pool ring (one thread) vs denque vs Array`,
  },
  cases,
);
if (check === 0) throw new Error('benchmark did nothing');
