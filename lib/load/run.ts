/**
 * One thread's share of a load run: connect, start, warm up, measure, drain,
 * report. `runLoad` (load.ts) calls it directly for one thread, or once per
 * worker thread through threads.ts.
 */
import { performance } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { analyzeRun } from './analyze';
import { LoadConnection, type ConnectionConfig } from './connection';
import { ReconnectingLane } from './reconnect';
import { buildFrameSet, makePayload } from './requests';
import { LoadStats, PHASE_DRAIN, PHASE_MEASURE, PHASE_WARMUP } from './stats';
import { parseTarget } from './target';
import type { LoadOptions, LoadProgress, LoadReport, PayloadType } from './types';

export interface Resolved {
  connections: number;
  pipeline: number;
  batch: number;
  durationS: number;
  warmupS: number;
  method: string;
  payloadBytes: number;
  payloadType: PayloadType;
  connectConcurrency: number;
  connectTimeoutMs: number;
  drainTimeoutMs: number;
  progressIntervalMs: number;
  rate: number | null;
  threads: number;
  reconnect: boolean;
}

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

function nonNegative(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number ≥ 0, got ${String(v)}`);
  return v;
}

export function resolveOptions(o: LoadOptions): Resolved {
  const payloadType = o.payloadType ?? 'str';
  if (payloadType !== 'str' && payloadType !== 'bin') throw new Error(`payloadType must be str or bin, got ${String(payloadType)}`);
  const r: Resolved = {
    connections: positiveInt('connections', o.connections, 8),
    pipeline: positiveInt('pipeline', o.pipeline, 32),
    batch: positiveInt('batch', o.batch, 1),
    durationS: nonNegative('durationS', o.durationS, 5),
    warmupS: nonNegative('warmupS', o.warmupS, 0),
    method: o.method ?? 'echo',
    payloadBytes: positiveInt('payloadBytes', o.payloadBytes, 32, 0),
    payloadType,
    connectConcurrency: positiveInt('connectConcurrency', o.connectConcurrency, 256),
    connectTimeoutMs: positiveInt('connectTimeoutMs', o.connectTimeoutMs, 10_000),
    drainTimeoutMs: nonNegative('drainTimeoutMs', o.drainTimeoutMs, 2000),
    progressIntervalMs: positiveInt('progressIntervalMs', o.progressIntervalMs, 1000),
    rate: o.rate === undefined ? null : nonNegative('rate', o.rate, 0),
    threads: positiveInt('threads', o.threads, 1),
    reconnect: o.reconnect === true,
  };
  if (r.durationS === 0) throw new Error('durationS must be > 0');
  if (r.rate === 0) throw new Error('rate must be > 0');
  if (typeof r.method !== 'string' || r.method === '') throw new Error('method must be a non-empty string');
  if (r.pipeline * r.batch > 0x100000000) throw new Error('pipeline × batch must stay within uint32 msgids');
  if (r.threads > r.connections) throw new Error(`threads (${r.threads}) must not exceed connections (${r.connections})`);
  return r;
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** Sleeps `ms`, or less when `signal` aborts. */
function phaseSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return sleep(ms);
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** How a thread's connections sit in the whole run (open-loop schedules are staggered over all of them). */
export interface Shard {
  /** Index of this thread's first connection in the run. */
  first: number;
  /** Connections in the whole run. */
  total: number;
  /** Requests per second for the whole run (this thread sends its connections' share). */
  totalRate: number | null;
}

export interface ThreadHooks {
  shard?: Shard;
  /** Runs after every connection is open, before any traffic (threads wait here for each other). */
  beforeStart?: () => Promise<void>;
}

export interface ThreadResult {
  report: LoadReport;
  /** The latency histogram of the window (µs). */
  histogram: Histogram;
}

/** Opens `connections` connections, then keeps `pipeline` frames of `batch` requests in flight on each (or sends on the open-loop schedule) for `warmupS + durationS` seconds. */
export async function runInThread(options: LoadOptions, hooks: ThreadHooks = {}): Promise<ThreadResult> {
  const target = parseTarget(options.url);
  const o = resolveOptions(options);
  const shard: Shard = hooks.shard ?? { first: 0, total: o.connections, totalRate: o.rate };
  const params: readonly unknown[] = options.params ?? [makePayload(o.payloadBytes, o.payloadType)];
  const websocket = target.transport === 'ws' || target.transport === 'wss';
  const set = buildFrameSet(o.pipeline, o.batch, o.method, params, websocket);
  const stats = new LoadStats();
  const conns: Array<LoadConnection | ReconnectingLane> = [];
  // Open loop: every connection of the run gets the same share of the rate; their first frames are spread over one interval.
  const intervalMs = shard.totalRate !== null ? (o.batch * 1000 * shard.total) / shard.totalRate : 0;
  for (let i = 0; i < o.connections; i++) {
    const cfg: ConnectionConfig = {
      target,
      frames: set.frames,
      batch: o.batch,
      stats,
      expectedResult: options.verify ? set.firstParamBytes : null,
      headers: options.headers,
      insecure: options.insecure ?? false,
      ca: options.ca,
      rawEcho: options.rawEcho ?? false,
      openLoop: shard.totalRate !== null ? { intervalMs, firstDueMs: ((shard.first + i) / shard.total) * intervalMs } : null,
    };
    conns.push(o.reconnect ? new ReconnectingLane(cfg, set.single) : new LoadConnection(cfg));
  }

  // Connect, `connectConcurrency` at a time.
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < conns.length) {
        const c = conns[next++]!;
        await c.connect(o.connectTimeoutMs);
      }
    };
    const lanes: Promise<void>[] = [];
    for (let i = 0; i < Math.min(o.connectConcurrency, conns.length); i++) lanes.push(worker());
    await Promise.all(lanes);
    if (hooks.beforeStart) await hooks.beforeStart();
  } catch (e) {
    await Promise.all(conns.map((c) => c.close(200)));
    throw e;
  }

  const signal = options.signal;
  let progressTimer: NodeJS.Timeout | null = null;
  let ticker: NodeJS.Timeout | null = null;
  let phaseStart = performance.now();
  let elu0 = performance.eventLoopUtilization();
  let cpu0 = process.cpuUsage();
  try {
    stats.phase = o.warmupS > 0 ? PHASE_WARMUP : PHASE_MEASURE;
    options.onPhase?.(o.warmupS > 0 ? 'warmup' : 'measure');
    for (const c of conns) c.start();
    phaseStart = performance.now();
    if (shard.totalRate !== null) {
      ticker = setInterval(() => {
        const t = performance.now();
        for (const c of conns) c.tick(t);
      }, 1);
    }

    if (options.onProgress) {
      const onProgress = options.onProgress;
      let lastResponses = 0;
      let lastT = phaseStart;
      let lastPhase = stats.phase;
      progressTimer = setInterval(() => {
        const t = performance.now();
        if (stats.phase !== lastPhase) {
          lastPhase = stats.phase;
          lastResponses = 0;
          lastT = phaseStart;
        }
        const p: LoadProgress = {
          phase: stats.phase === PHASE_WARMUP ? 'warmup' : 'measure',
          elapsedS: (t - phaseStart) / 1000,
          responses: stats.responses,
          intervalRate: ((stats.responses - lastResponses) * 1000) / Math.max(1, t - lastT),
          errors: stats.responses - stats.results,
          openConnections: conns.reduce((n, c) => n + (c.isOpen ? 1 : 0), 0),
          reconnects: stats.reconnects,
          resends: stats.resends,
        };
        lastResponses = stats.responses;
        lastT = t;
        onProgress(p);
      }, o.progressIntervalMs);
    }

    if (o.warmupS > 0) {
      await phaseSleep(o.warmupS * 1000, signal);
      options.onPhase?.('measure');
      stats.resetWindow();
      stats.phase = PHASE_MEASURE;
      phaseStart = performance.now();
    }
    elu0 = performance.eventLoopUtilization();
    cpu0 = process.cpuUsage();
    await phaseSleep(o.durationS * 1000, signal);
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    if (ticker) clearInterval(ticker);
  }
  const measuredMs = performance.now() - phaseStart;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const cpu = process.cpuUsage(cpu0);
  stats.phase = PHASE_DRAIN;
  options.onPhase?.('drain');
  for (const c of conns) c.stop();
  const latencyMs = stats.latency();
  const window = {
    requests: stats.requests,
    responses: stats.responses,
    results: stats.results,
    frames: stats.frames,
    mismatches: stats.mismatches,
    unexpected: stats.unexpected,
    errors: Object.fromEntries(stats.errors),
    schedFrames: stats.schedFrames,
    schedLate: stats.schedLate,
    schedSlotWaits: stats.schedSlotWaits,
    schedMaxLagMs: stats.schedMaxLagMs,
  };
  const histogram = stats.histogram;

  // Drain what is still in flight, then close.
  const drainUntil = performance.now() + o.drainTimeoutMs;
  while (performance.now() < drainUntil && conns.some((c) => c.awaiting)) await sleep(5);
  const unanswered = conns.reduce((n, c) => n + c.inflight, 0);
  await Promise.all(conns.map((c) => c.close(1000)));

  const seconds = measuredMs / 1000;
  const perSecond = (n: number): number => (seconds > 0.001 ? Math.round(n / seconds) : 0);
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  const report: LoadReport = {
    url: target.url,
    transport: target.transport,
    connections: o.connections,
    pipeline: o.pipeline,
    batch: o.batch,
    method: o.method,
    payloadBytes: o.payloadBytes,
    payloadType: o.payloadType,
    warmupS: o.warmupS,
    durationS: r3(seconds),
    requests: window.requests,
    responses: window.responses,
    results: window.results,
    errors: window.errors,
    requestsPerSecond: perSecond(window.responses),
    framesPerSecond: perSecond(window.frames),
    latencyMs,
    mismatches: window.mismatches,
    unexpected: window.unexpected,
    late: stats.late,
    unanswered,
    droppedConnections: stats.droppedConnections,
    closes: Object.fromEntries(stats.closes),
    protocolErrors: stats.protocolErrors,
    reconnect: o.reconnect,
    goaways: stats.goaways,
    reconnects: stats.reconnects,
    reconnectFailures: stats.reconnectFailures,
    resends: stats.resends,
    mode: o.rate !== null ? 'open' : 'closed',
    threads: 1,
    openLoop:
      o.rate !== null
        ? {
            targetRate: o.rate,
            sendRate: perSecond(window.requests),
            frames: window.schedFrames,
            lateFrames: window.schedLate,
            slotWaits: window.schedSlotWaits,
            maxLagMs: r3(window.schedMaxLagMs),
          }
        : null,
    client: {
      cpuCores: seconds > 0.001 ? Math.round(((cpu.user + cpu.system) / 1000 / measuredMs) * 100) / 100 : 0,
      eventLoopUtilization: [Math.round(elu * 100) / 100],
      saturated: false,
      notes: [],
    },
    total: stats.totals(),
  };
  analyzeRun(report);
  return { report, histogram };
}
