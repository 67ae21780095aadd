/**
 * The supervisor's view of one reactor process: its state, and promises for
 * the replies it is waiting for (rejected if the process exits first).
 */
import type { Worker } from 'node:cluster';
import type { FromReactor, ToReactor } from './ipc';
import type { MetricsText } from '../metrics/merge';

export type HandleState = 'loading' | 'loaded' | 'listening' | 'retiring' | 'ending' | 'dead';

interface Waiter {
  type: FromReactor['t'];
  resolve: (m: FromReactor) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class ReactorHandle {
  state: HandleState = 'loading';
  /** Counters and histograms at its last scrape (or its farewell): what the server keeps when it goes. */
  lastCounters: MetricsText | null = null;
  readonly startedAt = Date.now();
  private waiters: Waiter[] = [];

  constructor(
    readonly generation: number,
    readonly index: number,
    readonly worker: Worker,
  ) {
    // A send to a process that is exiting fails with EPIPE; its exit event follows and says what happened.
    worker.on('error', () => undefined);
  }

  get pid(): number | undefined {
    return this.worker.process.pid;
  }

  send(m: ToReactor): void {
    if (this.state !== 'dead' && this.worker.isConnected()) this.worker.send(m, undefined, () => undefined);
  }

  /** The next message of `type`; rejects on `failed`, on exit, or after `ms`. */
  expect<T extends FromReactor['t']>(type: T, ms: number): Promise<Extract<FromReactor, { t: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`reactor ${this.index}: no ${type} within ${ms} ms`));
      }, ms);
      const waiter: Waiter = { type, resolve: resolve as (m: FromReactor) => void, reject, timer };
      this.waiters.push(waiter);
    });
  }

  received(m: FromReactor): void {
    if (m.t === 'failed') return this.failAll(new Error(m.error));
    const i = this.waiters.findIndex((w) => w.type === m.t);
    if (i < 0) return;
    const [w] = this.waiters.splice(i, 1);
    clearTimeout(w.timer);
    w.resolve(m);
  }

  exited(code: number | null, signal: string | null): void {
    this.state = 'dead';
    this.failAll(new Error(`reactor ${this.index} exited (${signal ?? `code ${code}`})`));
  }

  private failAll(e: Error): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      clearTimeout(w.timer);
      w.reject(e);
    }
  }
}
