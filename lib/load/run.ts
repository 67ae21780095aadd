import { performance } from 'node:perf_hooks';
import { LoadConnection } from './connection';
import { buildFrameSet, makePayload } from './requests';
import { LoadStats, PHASE_DRAIN, PHASE_MEASURE, PHASE_WARMUP } from './stats';
import { parseTarget } from './target';
import type { LoadOptions, LoadProgress, LoadReport, PayloadType } from './types';

interface Resolved {
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
  };
  if (r.durationS === 0) throw new Error('durationS must be > 0');
  if (typeof r.method !== 'string' || r.method === '') throw new Error('method must be a non-empty string');
  if (r.pipeline * r.batch > 0x100000000) throw new Error('pipeline × batch must stay within uint32 msgids');
  return r;
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** Opens `connections` connections, then keeps `pipeline` frames of `batch` requests in flight on each for `warmupS + durationS` seconds. */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const target = parseTarget(options.url);
  const o = resolveOptions(options);
  const params: readonly unknown[] = options.params ?? [makePayload(o.payloadBytes, o.payloadType)];
  const websocket = target.transport === 'ws' || target.transport === 'wss';
  const set = buildFrameSet(o.pipeline, o.batch, o.method, params, websocket);
  const stats = new LoadStats();
  const conns: LoadConnection[] = [];
  for (let i = 0; i < o.connections; i++) {
    conns.push(
      new LoadConnection({
        target,
        frames: set.frames,
        batch: o.batch,
        stats,
        expectedResult: options.verify ? set.firstParamBytes : null,
        headers: options.headers,
        insecure: options.insecure ?? false,
        rawEcho: options.rawEcho ?? false,
      }),
    );
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
  } catch (e) {
    await Promise.all(conns.map((c) => c.close(200)));
    throw e;
  }

  let progressTimer: NodeJS.Timeout | null = null;
  let phaseStart = performance.now();
  try {
    stats.phase = o.warmupS > 0 ? PHASE_WARMUP : PHASE_MEASURE;
    options.onPhase?.(o.warmupS > 0 ? 'warmup' : 'measure');
    for (const c of conns) c.start();
    phaseStart = performance.now();

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
        }
        const p: LoadProgress = {
          phase: stats.phase === PHASE_WARMUP ? 'warmup' : 'measure',
          elapsedS: (t - phaseStart) / 1000,
          responses: stats.responses,
          intervalRate: ((stats.responses - lastResponses) * 1000) / Math.max(1, t - lastT),
          openConnections: conns.reduce((n, c) => n + (c.isOpen ? 1 : 0), 0),
        };
        lastResponses = stats.responses;
        lastT = t;
        onProgress(p);
      }, o.progressIntervalMs);
    }

    if (o.warmupS > 0) {
      await sleep(o.warmupS * 1000);
      options.onPhase?.('measure');
      stats.resetWindow();
      stats.phase = PHASE_MEASURE;
      phaseStart = performance.now();
    }
    await sleep(o.durationS * 1000);
  } finally {
    if (progressTimer) clearInterval(progressTimer);
  }
  const measuredMs = performance.now() - phaseStart;
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
  };

  // Drain what is still in flight, then close.
  const drainUntil = performance.now() + o.drainTimeoutMs;
  while (performance.now() < drainUntil && conns.some((c) => c.isOpen && c.inflight > 0)) await sleep(5);
  const unanswered = conns.reduce((n, c) => n + c.inflight, 0);
  await Promise.all(conns.map((c) => c.close(1000)));

  const seconds = measuredMs / 1000;
  return {
    url: target.url,
    transport: target.transport,
    connections: o.connections,
    pipeline: o.pipeline,
    batch: o.batch,
    method: o.method,
    payloadBytes: o.payloadBytes,
    payloadType: o.payloadType,
    warmupS: o.warmupS,
    durationS: Math.round(seconds * 1000) / 1000,
    requests: window.requests,
    responses: window.responses,
    results: window.results,
    errors: window.errors,
    requestsPerSecond: Math.round(window.responses / seconds),
    framesPerSecond: Math.round(window.frames / seconds),
    latencyMs,
    mismatches: window.mismatches,
    unexpected: window.unexpected,
    late: stats.late,
    unanswered,
    droppedConnections: stats.droppedConnections,
    closes: Object.fromEntries(stats.closes),
    protocolErrors: stats.protocolErrors,
  };
}
