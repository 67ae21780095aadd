/**
 * TCP stream framing figure (issue 4): a 16 MB message arriving in 64 KB
 * chunks must decode in under 10x the time of decoding it whole.
 * Also a 16 MB message made of many small items (the case naive re-parsing
 * makes quadratic), and the naive msgpackr re-parse for comparison.
 *
 *   node dist/benchmarks/stream-decode.js [--quick]
 */
import fs from 'node:fs';
import path from 'node:path';
import { unpackMultiple } from 'msgpackr';
import { decodeFrame, encodeRequest } from '../lib/protocol/codec';
import { StreamDecoder } from '../lib/protocol/stream';
import { machineInfo } from './servers/harness';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 7;
const CHUNK = 64 * 1024;

const sink = { request: (): void => undefined, notification: (): void => undefined, invalid: (): void => undefined };

function whole(bytes: Buffer): number {
  const t0 = performance.now();
  const err = decodeFrame(bytes, sink);
  if (err) throw new Error(err.reason);
  return performance.now() - t0;
}

function chunked(bytes: Buffer): number {
  const t0 = performance.now();
  const dec = new StreamDecoder(32 * 1024 * 1024);
  let got = 0;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    const err = dec.push(bytes.subarray(i, i + CHUNK), (m) => {
      got += m.length;
      const e = decodeFrame(m, sink);
      if (e) throw new Error(e.reason);
    });
    if (err) throw new Error(err);
  }
  if (got !== bytes.length) throw new Error('not all delivered');
  return performance.now() - t0;
}

/** What FACTS.md measured as quadratic: re-parse everything held on every chunk. */
function naive(bytes: Buffer, limitMs: number): number {
  const t0 = performance.now();
  let held = Buffer.alloc(0);
  for (let i = 0; i < bytes.length; i += CHUNK) {
    held = Buffer.concat([held, bytes.subarray(i, i + CHUNK)]);
    try {
      unpackMultiple(held);
      held = Buffer.alloc(0);
    } catch {
      /* incomplete: keep and retry */
    }
    if (performance.now() - t0 > limitMs) return Infinity;
  }
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const cases: Array<[string, Buffer]> = [
  ['16 MB string', encodeRequest(1, 'echo', ['s'.repeat(16 * 1024 * 1024)])],
  ['16 MB of 4-byte strings (~3.3 M items)', encodeRequest(2, 'echo', [Array.from({ length: (16 * 1024 * 1024) / 5 }, () => 'abcd')])],
];

const results: Array<Record<string, unknown>> = [];
for (const [name, bytes] of cases) {
  const w: number[] = [];
  const c: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    w.push(whole(bytes));
    c.push(chunked(bytes));
  }
  const nv = naive(bytes, 20 * median(w) + 2000);
  const row = {
    case: name,
    bytes: bytes.length,
    wholeMs: +median(w).toFixed(2),
    chunkedMs: +median(c).toFixed(2),
    ratio: +(median(c) / median(w)).toFixed(2),
    goal: 'chunked < 10 x whole',
    naiveReparseMs: Number.isFinite(nv) ? +nv.toFixed(1) : 'gave up (> 20 x whole + 2 s)',
  };
  results.push(row);
  console.log(row);
}

const out = path.join(__dirname, '../../benchmarks/results', `stream-decode-${new Date().toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(
  out,
  JSON.stringify(
    {
      benchmark: 'stream-decode',
      date: new Date().toISOString(),
      command: `npx tsc -p tsconfig.json && node dist/benchmarks/stream-decode.js${quick ? ' --quick' : ''}`,
      machine: machineInfo(),
      chunkBytes: CHUNK,
      rounds: ROUNDS,
      results,
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
