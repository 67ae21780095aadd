import * as hdr from 'hdr-histogram-js';
import type { LatencySummary } from './types';

export const PHASE_WARMUP = 0;
export const PHASE_MEASURE = 1;
export const PHASE_DRAIN = 2;

/** Counters shared by every connection of one run (single thread, no locking). */
export class LoadStats {
  phase = PHASE_WARMUP;
  /** Latency in microseconds. */
  readonly histogram: hdr.Histogram = hdr.build({
    bitBucketSize: 64,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
  requests = 0;
  responses = 0;
  results = 0;
  frames = 0;
  mismatches = 0;
  unexpected = 0;
  readonly errors = new Map<string, number>();
  // Whole run:
  late = 0;
  protocolErrors = 0;
  droppedConnections = 0;
  readonly closes = new Map<string, number>();

  /** Clears the windowed counters (end of warm-up). */
  resetWindow(): void {
    this.histogram.reset();
    this.requests = 0;
    this.responses = 0;
    this.results = 0;
    this.frames = 0;
    this.mismatches = 0;
    this.unexpected = 0;
    this.errors.clear();
  }

  countError(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  countClose(key: string): void {
    this.closes.set(key, (this.closes.get(key) ?? 0) + 1);
  }

  latency(): LatencySummary {
    const h = this.histogram;
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
}
