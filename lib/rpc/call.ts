/**
 * One method invocation. It is the handler's CallContext and, while an async
 * handler runs, a node in its deadline list (intrusive links: O(1) add/remove,
 * no timer per request).
 */
import type { Logger } from 'pino';
import type { CallContext } from '../reactor/types';
import type { BaseConnection } from '../reactor/connection';

/** performance.now() at the start of the frame being handled, read at most once per frame. */
export interface FrameClock {
  frameNow(): number;
}

// performance.timeOrigin is a getter that costs a call; it never changes.
const TIME_ORIGIN = performance.timeOrigin;

export class Call implements CallContext {
  prev: Call | null = null;
  next: Call | null = null;
  /** Answered, timed out or cancelled: any later result is discarded. */
  settled = false;
  private ac: AbortController | null = null;
  private startedAt = -1;

  constructor(
    readonly conn: BaseConnection,
    readonly msgid: number,
    readonly method: string,
    readonly log: Logger,
    /** Deadline list key: the timeout in ms. */
    readonly timeoutMs: number,
    private readonly clock: FrameClock,
  ) {}

  /**
   * performance.now() when the frame carrying it was read. Read on first use
   * (a sync handler that never asks costs no clock read); every path that
   * needs it (async tracking, the pool, ctx.deadline) asks while that frame
   * is still being handled.
   */
  get started(): number {
    if (this.startedAt < 0) this.startedAt = this.clock.frameNow();
    return this.startedAt;
  }

  /** Epoch ms after which the call is answered TIMEOUT. */
  get deadline(): number {
    return TIME_ORIGIN + this.started + this.timeoutMs;
  }

  get signal(): AbortSignal {
    if (this.ac === null) {
      this.ac = new AbortController();
      if (this.settled) this.ac.abort();
    }
    return this.ac.signal;
  }

  abort(reason: string): void {
    if (this.ac !== null && !this.ac.signal.aborted) this.ac.abort(new Error(reason));
  }
}
