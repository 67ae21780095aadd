/**
 * ringloop's worker pool against Piscina 5, side by side in one process, in
 * alternating A/B rounds (the machine is small and shared: medians of rounds).
 *
 *   npx tsc -p tsconfig.json && node dist/benchmarks/pool.bench.js [--quick] [--rounds N] [--out FILE]
 *
 * Figures (issue 3):
 *  - tiny tasks (sum of 16 numbers), 1,024 in flight, 1 and 2 threads: tasks/s
 *  - round trip with one task in flight: p50/p90/p99 µs
 *  - ~1 ms CPU tasks, 2 threads, 64 in flight: tasks/s
 * ringloop is driven through the task API the dispatcher uses (a task object
 * and a completion callback, no Promise per task) and also through run()
 * (one Promise per task, like Piscina's API). Piscina runs with its defaults
 * (atomics 'sync', one task per worker at a time).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import { CallbackTask, WorkerPool, type PoolOptions } from '../lib/pool/pool';
import { STATUS_OK, decodeValue } from '../lib/pool/wire';
import { cpu } from './pool-tasks';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argVal = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const ROUNDS = Number(argVal('--rounds') ?? (quick ? 3 : 5));
const ROUND_MS = quick ? 500 : 1000;
const LAT_TASKS = quick ? 5000 : 20000;
const INFLIGHT = 1024;
const CPU_INFLIGHT = 64;
const TASKS = path.join(__dirname, 'pool-tasks.js');
const OUT = argVal('--out') ?? path.join(__dirname, '..', '..', 'benchmarks', 'results', `pool-${new Date().toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);

const NUMS = Array.from({ length: 16 }, (_, i) => i * 1.5);
const EXPECTED_SUM = NUMS.reduce((a, b) => a + b, 0);

type Rate = { perSec: number; perCpuSec: number };

/** Measures a closed-loop run: wall rate and rate per CPU-second the whole process used. */
function meter(): (done: number) => Rate {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return (done) => {
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    return { perSec: done / wall, perCpuSec: done / ((c.user + c.system) / 1e6) };
  };
}

type Runner = {
  name: string;
  /** Keeps `inflight` tasks running for `ms`; resolves with completions/s and completions per CPU-second of this process (all threads). */
  throughput(kind: 'sum' | 'cpu', inflight: number, ms: number): Promise<Rate>;
  /** One task at a time (after `gapMs` of idleness when given); resolves with each round trip in µs. */
  latency(n: number, gapMs?: number): Promise<Float64Array>;
  close(): Promise<void>;
};

let cpuIters = 0;

function ringloop(threads: number, api: 'task' | 'promise', extra: Partial<PoolOptions> = {}): Runner & { pool: WorkerPool } {
  const pool = new WorkerPool({
    size: threads,
    plugins: [{ module: TASKS, name: 'poolbench', options: undefined }],
    methods: ['poolbench.sum', 'poolbench.cpu'],
    ...extra,
  });
  const params = (kind: 'sum' | 'cpu', i: number): unknown[] => (kind === 'sum' ? [NUMS] : [cpuIters, i]);
  return {
    name: `ringloop ${api === 'task' ? 'task API' : 'run() promises'}`,
    pool,
    throughput(kind, inflight, ms) {
      const m = kind === 'sum' ? 0 : 1;
      return new Promise((resolve, reject) => {
        let done = 0;
        let stop = false;
        let out = 0;
        const m0 = meter();
        const end = (): void => {
          if (out === 0) resolve(m0(done));
        };
        const onDone = (status: number, body: Uint8Array | null): void => {
          out--;
          if (status !== STATUS_OK) return reject(new Error(`task failed: ${status}`));
          if (kind === 'sum' && decodeValue(body!) !== EXPECTED_SUM) return reject(new Error('wrong sum'));
          done++;
          if (stop) return end();
          submit();
        };
        const submit = (): void => {
          out++;
          if (api === 'task') {
            if (!pool.submit(new CallbackTask(Infinity, onDone), m, params(kind, done))) reject(new Error('queue full'));
          } else {
            pool.run(m, params(kind, done)).then(
              (v) => {
                out--;
                if (kind === 'sum' && v !== EXPECTED_SUM) return reject(new Error('wrong sum'));
                done++;
                if (stop) return end();
                submit();
              },
              reject,
            );
          }
        };
        for (let i = 0; i < inflight; i++) submit();
        setTimeout(() => {
          stop = true;
        }, ms);
      });
    },
    latency(n, gapMs = 0) {
      const lat = new Float64Array(n);
      return new Promise((resolve, reject) => {
        let i = 0;
        let t0 = 0;
        const next = (): void => {
          if (gapMs > 0 && t0 !== -1) {
            t0 = -1;
            setTimeout(next, gapMs);
            return;
          }
          t0 = performance.now();
          if (api === 'task') pool.submit(new CallbackTask(Infinity, onDone), 0, [NUMS]);
          else pool.run(0, [NUMS]).then(() => onDone(STATUS_OK), reject);
        };
        const onDone = (status: number): void => {
          lat[i++] = (performance.now() - t0) * 1000;
          if (status !== STATUS_OK) return reject(new Error(`task failed: ${status}`));
          if (i === n) resolve(lat);
          else {
            t0 = 0;
            next();
          }
        };
        next();
      });
    },
    close: () => pool.close(1000),
  };
}

function piscina(threads: number): Runner & { pool: Piscina } {
  const pool = new Piscina({ filename: TASKS, minThreads: threads, maxThreads: threads, idleTimeout: 60000 });
  return {
    name: 'piscina 5.3.2',
    pool,
    throughput(kind, inflight, ms) {
      return new Promise((resolve, reject) => {
        let done = 0;
        let stop = false;
        let out = 0;
        const m0 = meter();
        const submit = (): void => {
          out++;
          const task = kind === 'sum' ? { nums: NUMS } : { iters: cpuIters, seed: done };
          (pool.run(task, { name: kind }) as Promise<number>).then((v) => {
            out--;
            if (kind === 'sum' && v !== EXPECTED_SUM) return reject(new Error('wrong sum'));
            done++;
            if (!stop) submit();
            else if (out === 0) resolve(m0(done));
          }, reject);
        };
        for (let i = 0; i < inflight; i++) submit();
        setTimeout(() => {
          stop = true;
        }, ms);
      });
    },
    async latency(n, gapMs = 0) {
      const lat = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        const t0 = performance.now();
        await pool.run({ nums: NUMS }, { name: 'sum' });
        lat[i] = (performance.now() - t0) * 1000;
      }
      return lat;
    },
    close: () => pool.destroy(),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function pct(lat: Float64Array, q: number): number {
  const s = Float64Array.from(lat).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function calibrateCpu(): number {
  // iterations for ~1 ms on this machine, measured on the main thread
  let iters = 100000;
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    for (let r = 0; r < 20; r++) cpu({ iters, seed: r });
    const ms = (performance.now() - t0) / 20;
    iters = Math.round((iters * 1) / ms);
  }
  return iters;
}

type Figures = { rounds: number[]; median: number; per_cpu_second_rounds: number[]; per_cpu_second_median: number };

async function alternate(label: string, runners: Runner[], fn: (r: Runner) => Promise<Rate>, rounds = ROUNDS): Promise<Record<string, Figures>> {
  const res: Record<string, Rate[]> = {};
  for (const r of runners) res[r.name] = [];
  // warm-up round, not recorded
  for (const r of runners) await fn(r);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? runners : [...runners].reverse();
    for (const r of order) res[r.name].push(await fn(r));
  }
  const out: Record<string, Figures> = {};
  for (const r of runners) {
    const a = res[r.name].map((x) => Math.round(x.perSec));
    const b = res[r.name].map((x) => Math.round(x.perCpuSec));
    out[r.name] = { rounds: a, median: Math.round(median(a)), per_cpu_second_rounds: b, per_cpu_second_median: Math.round(median(b)) };
  }
  const line = runners.map((r) => `${r.name}: ${out[r.name].median.toLocaleString('en-US')}/s (${out[r.name].per_cpu_second_median.toLocaleString('en-US')}/CPU-s)`).join(' | ');
  console.log(`${label.padEnd(36)} ${line}`);
  return out;
}

async function main(): Promise<void> {
  cpuIters = calibrateCpu();
  console.log(`node ${process.version}, ${os.cpus().length} cpus (${os.cpus()[0]?.model ?? '?'}), ${ROUNDS} rounds of ${ROUND_MS} ms, ~1 ms task = ${cpuIters} iterations`);
  const results: Record<string, unknown> = {};

  for (const threads of [1, 2]) {
    const rl = ringloop(threads, 'task');
    const rp = ringloop(threads, 'promise');
    const pi = piscina(threads);
    await Promise.all([rl.pool.start(), rp.pool.start()]);
    await new Promise((r) => setTimeout(r, 200)); // piscina's threads start lazily; let both settle
    const runners = [rl, rp, pi];
    const tiny = await alternate(`tiny tasks/s, ${threads} thread(s), ${INFLIGHT} in flight`, runners, (r) => r.throughput('sum', INFLIGHT, ROUND_MS));
    const ratio = tiny[rl.name].median / tiny[pi.name].median;
    const ratioP = tiny[rp.name].median / tiny[pi.name].median;
    console.log(`  -> ringloop / piscina: ${ratio.toFixed(1)}x (task API), ${ratioP.toFixed(1)}x (run() promises)`);
    results[`tiny_${threads}t`] = { inflight: INFLIGHT, ...tiny, ratio_task_api: +ratio.toFixed(2), ratio_promises: +ratioP.toFixed(2) };
    if (threads === 1) {
      const lat: Record<string, unknown> = {};
      const p50s: Record<string, number[]> = {};
      for (const r of runners) p50s[r.name] = [];
      const all: Record<string, Float64Array[]> = {};
      for (const r of runners) all[r.name] = [];
      for (const r of runners) await r.latency(2000); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? runners : [...runners].reverse();
        for (const r of order) {
          const l = await r.latency(LAT_TASKS);
          all[r.name].push(l);
          p50s[r.name].push(pct(l, 0.5));
        }
      }
      for (const r of runners) {
        const p = (q: number): number => +median(all[r.name].map((l) => pct(l, q))).toFixed(1);
        lat[r.name] = { p50_us: p(0.5), p90_us: p(0.9), p99_us: p(0.99), p50_rounds: p50s[r.name].map((x) => +x.toFixed(1)) };
      }
      console.log(
        `${'round trip, 1 in flight, 1 thread'.padEnd(36)} ` +
          runners.map((r) => `${r.name}: p50 ${(lat[r.name] as { p50_us: number }).p50_us} µs, p99 ${(lat[r.name] as { p99_us: number }).p99_us}`).join(' | '),
      );
      results.round_trip_1_inflight = { tasks_per_round: LAT_TASKS, ...lat };
    }
    if (threads === 2) {
      // more, shorter rounds: CPU-bound throughput on a shared 2-core box moves with every other job
      const c = await alternate(`~1 ms CPU tasks/s, 2 threads, ${CPU_INFLIGHT} in flight`, [rl, pi], (r) => r.throughput('cpu', CPU_INFLIGHT, ROUND_MS), ROUNDS * 2);
      const ratio = c[rl.name].median / c[pi.name].median;
      const ratioCpu = c[rl.name].per_cpu_second_median / c[pi.name].per_cpu_second_median;
      console.log(`  -> ringloop / piscina: ${ratio.toFixed(2)}x tasks/s, ${ratioCpu.toFixed(2)}x tasks per CPU-second`);
      results.cpu_1ms_2t = { inflight: CPU_INFLIGHT, iterations: cpuIters, ...c, ratio: +ratio.toFixed(2), ratio_per_cpu_second: +ratioCpu.toFixed(2) };
    }
    for (const r of runners) await r.close();
  }

  if (!args.includes('--no-strategies')) results.strategies = await strategies();

  const record = {
    date: new Date().toISOString(),
    command: `node dist/benchmarks/pool.bench.js ${args.join(' ')}`.trim(),
    node: process.version,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model,
    rounds: ROUNDS,
    round_ms: ROUND_MS,
    note: 'alternating A/B rounds in one process; medians of rounds; machine shared/noisy',
    results,
  };
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify(record, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
}

/**
 * The wake-up choices, measured (one thread): how an idle worker waits
 * (spin first or not; 'auto' = a blocking Atomics.wait when nothing else in
 * the worker needs its event loop, or always Atomics.waitAsync, which keeps
 * its event loop running) and how the reactor learns of answers
 * (setImmediate polling while tasks are short, or only Atomics.waitAsync).
 * "sparse" = one task every ~1 ms, so both sides are asleep when it comes.
 */
async function strategies(): Promise<Record<string, unknown>> {
  const variants: Array<{ label: string; opts: Partial<PoolOptions> }> = [
    { label: 'default: spin 50 µs, worker auto, reactor polls', opts: {} },
    { label: 'spin 50 µs, worker waitAsync, reactor polls', opts: { sleepMode: 'async' } },
    { label: 'spin 0, worker auto, reactor polls', opts: { spinUs: 0 } },
    { label: 'spin 0, worker waitAsync, reactor polls', opts: { spinUs: 0, sleepMode: 'async' } },
    { label: 'spin 50 µs, worker auto, reactor waitAsync only', opts: { pollUs: 0 } },
    { label: 'spin 0, worker waitAsync, reactor waitAsync only', opts: { spinUs: 0, sleepMode: 'async', pollUs: 0 } },
  ];
  const runners = variants.map((v) => ({ ...ringloop(1, 'task', v.opts), name: v.label }));
  await Promise.all(runners.map((r) => r.pool.start()));
  const back: Record<string, Float64Array[]> = {};
  const sparse: Record<string, Float64Array[]> = {};
  for (const r of runners) {
    back[r.name] = [];
    sparse[r.name] = [];
    await r.latency(1000);
  }
  const n = quick ? 2000 : 5000;
  const ns = quick ? 150 : 300;
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? runners : [...runners].reverse();
    for (const r of order) {
      back[r.name].push(await r.latency(n));
      sparse[r.name].push(await r.latency(ns, 1));
    }
  }
  const out: Record<string, unknown> = {};
  console.log('wake-up strategies, 1 thread (median of rounds):');
  for (const r of runners) {
    const q = (ls: Float64Array[], p: number): number => +median(ls.map((l) => pct(l, p))).toFixed(1);
    out[r.name] = {
      back_to_back: { p50_us: q(back[r.name], 0.5), p99_us: q(back[r.name], 0.99) },
      sparse_1ms: { p50_us: q(sparse[r.name], 0.5), p99_us: q(sparse[r.name], 0.99) },
    };
    console.log(
      `  ${r.name.padEnd(56)} back-to-back p50 ${q(back[r.name], 0.5)} µs p99 ${q(back[r.name], 0.99)} | sparse p50 ${q(sparse[r.name], 0.5)} µs p99 ${q(sparse[r.name], 0.99)}`,
    );
  }
  for (const r of runners) await r.close();
  // Spinning and throughput on 2 cores with 2 workers plus the reactor.
  const spins = [0, 20, 50];
  const tp = spins.map((spinUs) => ({ ...ringloop(2, 'task', { spinUs }), name: `spin ${spinUs} µs` }));
  await Promise.all(tp.map((r) => r.pool.start()));
  out.tiny_2t_by_spin = await alternate('tiny tasks/s, 2 threads, by worker spin', tp, (r) => r.throughput('sum', INFLIGHT, ROUND_MS));
  for (const r of tp) await r.close();
  return out;
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
