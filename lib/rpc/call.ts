/**
 * One method invocation. It is the handler's CallContext and, while an async
 * handler runs, a node in its deadline list (intrusive links: O(1) add/remove,
 * no timer per request).
 */
import type { Logger } from 'pino';
import type { CallContext } from '../reactor/types';
import type { BaseConnection } from '../reactor/connection';

export class Call implements CallContext {
  prev: Call | null = null;
  next: Call | null = null;
  /** Answered, timed out or cancelled: any later result is discarded. */
  settled = false;
  private ac: AbortController | null = null;

  constructor(
    readonly conn: BaseConnection,
    readonly msgid: number,
    readonly method: string,
    readonly deadline: number,
    readonly log: Logger,
    /** performance.now() when the frame carrying it was read. */
    readonly started: number,
    /** Deadline list key: the timeout in ms. */
    readonly timeoutMs: number,
  ) {}

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
