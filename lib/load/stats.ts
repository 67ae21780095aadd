import * as hdr from 'hdr-histogram-js';
import type { LatencySummary } from './types';

export const PHASE_WARMUP = 0;
export const PHASE_MEASURE = 1;
export const PHASE_DRAIN = 2;

/** A latency histogram in microseconds, as every part of the load client builds it. */
export function buildHistogram(): hdr.Histogram {
  return hdr.build({
    bitBucketSize: 64,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Percentiles of a microsecond histogram, in milliseconds. */
export function summarize(h: hdr.Histogram): LatencySummary {
  const count = h.totalCount;
  const ms = (us: number): number => Math.round(us) / 1000;
  if (count === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, min: 0, mean: 0, count: 0 };
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    min: ms(h.minNonZeroValue),
    mean: Math.round(h.mean) / 1000,
    count,
  };
}

function addCounts(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
}

/** Counters shared by every connection of one run (single thread, no locking). */
export class LoadStats {
  phase = PHASE_WARMUP;
  /** Latency in microseconds. */
  readonly histogram: hdr.Histogram = buildHistogram();
  requests = 0;
  responses = 0;
  results = 0;
  frames = 0;
  mismatches = 0;
  unexpected = 0;
  readonly errors = new Map<string, number>();
  // Open-loop schedule, windowed:
  schedFrames = 0;
  schedLate = 0;
  schedSlotWaits = 0;
  schedMaxLagMs = 0;
  // Whole run:
  late = 0;
  lateResults = 0;
  readonly lateErrors = new Map<string, number>();
  protocolErrors = 0;
  droppedConnections = 0;
  readonly closes = new Map<string, number>();
  // --reconnect, whole run:
  /** `ringloop.goaway` notifications received. */
  goaways = 0;
  /** Replacement connections opened (after goaway, `SHUTTING_DOWN` or a close). */
  reconnects = 0;
  /** Replacement connection attempts that failed (each is retried after a backoff). */
  reconnectFailures = 0;
  /** Requests sent again (answered `SHUTTING_DOWN`, or left unanswered by a closed connection). */
  resends = 0;
  /** Warm-up counts, kept when the window opens (for the whole-run totals). */
  private warmRequests = 0;
  private warmResponses = 0;
  private warmResults = 0;
  private readonly warmErrors = new Map<string, number>();

  /** Clears the windowed counters (end of warm-up). */
  resetWindow(): void {
    this.warmRequests += this.requests;
    this.warmResponses += this.responses;
    this.warmResults += this.results;
    addCounts(this.warmErrors, this.errors);
    this.histogram.reset();
    this.requests = 0;
    this.responses = 0;
    this.results = 0;
    this.frames = 0;
    this.mismatches = 0;
    this.unexpected = 0;
    this.errors.clear();
    this.schedFrames = 0;
    this.schedLate = 0;
    this.schedSlotWaits = 0;
    this.schedMaxLagMs = 0;
  }

  countError(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** A response after the window closed. */
  countLate(errorCode: string | null): void {
    this.late++;
    if (errorCode === null) this.lateResults++;
    else this.lateErrors.set(errorCode, (this.lateErrors.get(errorCode) ?? 0) + 1);
  }

  countClose(key: string): void {
    this.closes.set(key, (this.closes.get(key) ?? 0) + 1);
  }

  /** Warm-up + window + drain. Requests sent are complete once sending has stopped. */
  totals(): { requests: number; responses: number; results: number; errors: Record<string, number> } {
    const errors = new Map(this.warmErrors);
    addCounts(errors, this.errors);
    addCounts(errors, this.lateErrors);
    return {
      requests: this.warmRequests + this.requests,
      responses: this.warmResponses + this.responses + this.late,
      results: this.warmResults + this.results + this.lateResults,
      errors: Object.fromEntries(errors),
    };
  }

  latency(): LatencySummary {
    return summarize(this.histogram);
  }
}
