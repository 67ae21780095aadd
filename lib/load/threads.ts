/**
 * `threads > 1`: the connections are spread over worker threads, each running
 * `runInThread` on its share (and its share of an open-loop rate). Threads
 * connect, wait for each other, start together; their reports are summed and
 * their latency histograms merged (HDR histograms add exactly).
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { analyzeRun } from './analyze';
import { buildHistogram, summarize } from './stats';
import { resolveOptions, type Shard } from './run';
import type { LoadOptions, LoadProgress, LoadReport } from './types';

/** Options a worker can receive (no functions, no signal). */
export type WorkerOptions = Omit<LoadOptions, 'onPhase' | 'onProgress' | 'signal' | 'threads'>;

export interface WorkerInit {
  options: WorkerOptions;
  shard: Shard;
}

/** Messages from a worker. */
export type FromWorker =
  | { type: 'connected' }
  | { type: 'phase'; phase: 'warmup' | 'measure' | 'drain' }
  | { type: 'progress'; progress: LoadProgress }
  | { type: 'done'; report: LoadReport; histogram: string }
  | { type: 'error'; message: string };

/** Messages to a worker. */
export type ToWorker = { type: 'go' } | { type: 'stop' };

const WORKER_SCRIPT = path.join(__dirname, 'worker.js');

/** Splits n into k near-equal parts. */
function split(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

export async function runThreaded(options: LoadOptions): Promise<LoadReport> {
  const o = resolveOptions(options);
  const { onPhase, onProgress, signal, threads: _threads, ...plain } = options;
  const shares = split(o.connections, o.threads);
  const workers: Worker[] = [];
  const latest: Array<LoadProgress | null> = shares.map(() => null);
  const done: Array<{ report: LoadReport; histogram: string } | null> = shares.map(() => null);
  let connected = 0;
  let finished = 0;
  let phase: 'warmup' | 'measure' | 'drain' | null = null;
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  let cpuCores = 0;
  let progressTimer: NodeJS.Timeout | null = null;

  const post = (w: Worker, m: ToWorker): void => w.postMessage(m);
  const onAbort = (): void => workers.forEach((w) => post(w, { type: 'stop' }));

  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (msg: string): void => {
        if (failed) return;
        failed = true;
        reject(new Error(msg));
      };
      let first = 0;
      shares.forEach((n, i) => {
        const init: WorkerInit = {
          options: { ...plain, connections: n, rate: o.rate !== null ? (o.rate * n) / o.connections : undefined },
          shard: { first, total: o.connections, totalRate: o.rate },
        };
        first += n;
        const w = new Worker(WORKER_SCRIPT, { workerData: init });
        workers.push(w);
        w.on('message', (m: FromWorker) => {
          switch (m.type) {
            case 'connected':
              if (++connected === shares.length) {
                for (const x of workers) post(x, { type: 'go' });
                if (signal) {
                  if (signal.aborted) onAbort();
                  else signal.addEventListener('abort', onAbort, { once: true });
                }
              }
              break;
            case 'phase':
              // The first thread to change phase speaks for all (they started together).
              if (phase === m.phase) break;
              phase = m.phase;
              if (m.phase === 'measure') {
                cpu0 = process.cpuUsage();
                t0 = performance.now();
              } else if (m.phase === 'drain') {
                const c = process.cpuUsage(cpu0);
                cpuCores = Math.round(((c.user + c.system) / 1000 / Math.max(1, performance.now() - t0)) * 100) / 100;
              }
              onPhase?.(m.phase);
              break;
            case 'progress':
              latest[i] = m.progress;
              break;
            case 'done':
              done[i] = { report: m.report, histogram: m.histogram };
              if (++finished === shares.length) resolve();
              break;
            case 'error':
              fail(m.message);
              break;
          }
        });
        w.on('error', (e) => fail(`load thread ${i + 1}: ${e.message}`));
        w.on('exit', (code) => {
          if (done[i] === null) fail(`load thread ${i + 1} exited (${code}) before reporting`);
        });
      });

      if (onProgress) {
        let lastSum = 0;
        let lastPhase: string | null = null;
        let lastT = performance.now();
        progressTimer = setInterval(() => {
          const ps = latest.filter((p): p is LoadProgress => p !== null);
          if (ps.length === 0) return;
          const ph = ps.some((p) => p.phase === 'warmup') ? 'warmup' : 'measure';
          const sum = ps.reduce((n, p) => n + (p.phase === ph ? p.responses : 0), 0);
          const t = performance.now();
          const elapsedS = Math.max(...ps.map((p) => p.elapsedS));
          let intervalRate: number;
          if (ph !== lastPhase) {
            // First report of a phase: the rate since the phase began.
            lastPhase = ph;
            intervalRate = sum / Math.max(0.001, elapsedS);
          } else {
            intervalRate = Math.max(0, ((sum - lastSum) * 1000) / Math.max(1, t - lastT));
          }
          onProgress({
            phase: ph,
            elapsedS,
            responses: sum,
            intervalRate,
            errors: ps.reduce((n, p) => n + (p.phase === ph ? p.errors : 0), 0),
            openConnections: ps.reduce((n, p) => n + p.openConnections, 0),
            reconnects: ps.reduce((n, p) => n + p.reconnects, 0),
            resends: ps.reduce((n, p) => n + p.resends, 0),
          });
          lastSum = sum;
          lastT = t;
        }, o.progressIntervalMs);
      }
    });
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  const parts = done.map((d) => d!);
  const reports = parts.map((p) => p.report);
  const histogram = buildHistogram();
  for (const p of parts) histogram.add(decodeFromCompressedBase64(p.histogram, 64, false));
  const sum = (f: (r: LoadReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
  const merged = (f: (r: LoadReport) => Record<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const r of reports) addInto(out, f(r));
    return out;
  };
  const r0 = reports[0]!;
  const ol = reports.map((r) => r.openLoop);
  const report: LoadReport = {
    ...r0,
    connections: o.connections,
    durationS: Math.round((sum((r) => r.durationS) / reports.length) * 1000) / 1000,
    requests: sum((r) => r.requests),
    responses: sum((r) => r.responses),
    results: sum((r) => r.results),
    errors: merged((r) => r.errors),
    requestsPerSecond: sum((r) => r.requestsPerSecond),
    framesPerSecond: sum((r) => r.framesPerSecond),
    latencyMs: summarize(histogram),
    mismatches: sum((r) => r.mismatches),
    unexpected: sum((r) => r.unexpected),
    late: sum((r) => r.late),
    unanswered: sum((r) => r.unanswered),
    droppedConnections: sum((r) => r.droppedConnections),
    closes: merged((r) => r.closes),
    protocolErrors: sum((r) => r.protocolErrors),
    goaways: sum((r) => r.goaways),
    reconnects: sum((r) => r.reconnects),
    reconnectFailures: sum((r) => r.reconnectFailures),
    resends: sum((r) => r.resends),
    threads: reports.length,
    openLoop:
      o.rate !== null && ol.every((x) => x !== null)
        ? {
            targetRate: o.rate,
            sendRate: ol.reduce((n, x) => n + x!.sendRate, 0),
            frames: ol.reduce((n, x) => n + x!.frames, 0),
            lateFrames: ol.reduce((n, x) => n + x!.lateFrames, 0),
            slotWaits: ol.reduce((n, x) => n + x!.slotWaits, 0),
            maxLagMs: Math.max(...ol.map((x) => x!.maxLagMs)),
          }
        : null,
    client: {
      cpuCores,
      eventLoopUtilization: reports.map((r) => r.client.eventLoopUtilization[0] ?? 0),
      saturated: false,
      notes: [],
    },
    total: {
      requests: sum((r) => r.total.requests),
      responses: sum((r) => r.total.responses),
      results: sum((r) => r.total.results),
      errors: merged((r) => r.total.errors),
    },
  };
  analyzeRun(report);
  return report;
}
