/**
 * `--reconnect`: one lane of the load (one of `--connections`) served by a
 * succession of connections, so that a run through a hot restart, a
 * shutdown or a rolling restart behind a proxy fails no request (CONTRACT.md,
 * "Hot restart": what a client that wants zero failed requests does).
 *
 * - `ringloop.goaway` on the current connection: a replacement is opened at
 *   once and takes every new request; the old connection finishes what it has
 *   in flight and is closed (1000) once idle.
 * - A `SHUTTING_DOWN` answer: the request was not run; it is sent again on the
 *   replacement, and the connection is treated as after goaway.
 * - A close (1001 or any other), a reset, or a failed connect: the requests
 *   left unanswered were not run (a 1001 close comes after every answer); a new
 *   connection is opened after a backoff (0, then 25 ms doubling to 1 s) and
 *   they are sent again there.
 *
 * Bounds: the lane keeps `pipeline` slots of `batch` requests, wherever they
 * are: in flight on a connection, waiting to be sent again (`pending`, at
 * most pipeline × batch msgids) or answered and waiting for a connection
 * (`waiting`, at most pipeline slots). So the requests in flight or waiting
 * never exceed what one connection had in flight. A request sent again keeps
 * its msgid and its slot's first send time: its latency counts from the first
 * send, and it counts once in `requests` and `responses`.
 */
import { performance } from 'node:perf_hooks';
import { LoadConnection, type ConnectionConfig, type LaneLink, type SharedSlots } from './connection';
import type { LoadStats } from './stats';

/** First retry delay after a failed reconnect; doubles per failure up to `BACKOFF_MAX_MS`. */
export const BACKOFF_MIN_MS = 25;
export const BACKOFF_MAX_MS = 1000;

export class ReconnectingLane {
  private readonly base: Omit<ConnectionConfig, 'link'>;
  private readonly stats: LoadStats;
  private readonly single: (msgid: number) => Buffer;
  private readonly slots: SharedSlots;
  private readonly openLoop: boolean;
  /** Where new requests go; null while a replacement is being opened. */
  private current: LoadConnection | null = null;
  /** Connections after goaway, finishing what they have in flight. */
  private readonly old = new Set<LoadConnection>();
  /** Answered slots waiting for a connection. */
  private readonly waiting: Int32Array;
  private waitingCount = 0;
  /** Msgids waiting to be sent again. */
  private readonly pending: Int32Array;
  private pendingCount = 0;
  /** Open loop: the schedule carried from one connection to the next. */
  private nextDue = Infinity;
  private running = false;
  private closed = false;
  private connecting = false;
  private connectTimeoutMs = 10_000;
  private retryTimer: NodeJS.Timeout | null = null;
  private wakeRetry: (() => void) | null = null;
  private lastTag = 0;
  /** Each connection's tag in `slots.outstanding`. */

  constructor(base: Omit<ConnectionConfig, 'link'>, single: (msgid: number) => Buffer) {
    this.base = base;
    this.stats = base.stats;
    this.single = single;
    const pipeline = base.frames.length;
    this.slots = {
      outstanding: new Uint8Array(pipeline * base.batch),
      slotRemaining: new Int32Array(pipeline),
      slotSentAt: new Float64Array(pipeline),
    };
    this.openLoop = base.openLoop != null;
    this.waiting = new Int32Array(pipeline);
    this.pending = new Int32Array(pipeline * base.batch);
  }

  get isOpen(): boolean {
    return this.current !== null && this.current.isOpen;
  }

  /** Requests in flight on any of its connections or waiting to be sent again. */
  get inflight(): number {
    let n = this.pendingCount + (this.current?.inflight ?? 0);
    for (const c of this.old) n += c.inflight;
    return n;
  }

  /** Unanswered requests that may still be answered (after a reconnect, if need be). */
  get awaiting(): boolean {
    return !this.closed && this.inflight > 0;
  }

  /** The first connection; a failure here fails the run, as without `--reconnect`. */
  async connect(timeoutMs: number): Promise<void> {
    this.connectTimeoutMs = timeoutMs;
    const c = this.make();
    this.current = c;
    await c.connect(timeoutMs);
  }

  start(): void {
    this.running = true;
    if (this.current !== null && this.current.isOpen) {
      this.current.start();
      return;
    }
    // Told to go (or closed) between connecting and starting: every slot waits for the replacement.
    for (let s = 0; s < this.waiting.length; s++) this.waiting[this.waitingCount++] = s;
    this.nextDue = performance.now() + (this.base.openLoop?.firstDueMs ?? 0);
  }

  tick(now: number): void {
    this.current?.tick(now);
  }

  /** No new requests; answers and requests sent again keep coming until `close`. */
  stop(): void {
    this.running = false;
    this.current?.stop();
  }

  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    const all = [...this.old];
    if (this.current) all.push(this.current);
    await Promise.all(all.map((c) => c.close(timeoutMs)));
  }

  private make(): LoadConnection {
    // A tag no live connection of this lane holds (there are at most a few).
    let tag = this.lastTag;
    do tag = (tag % 255) + 1;
    while ((this.current !== null && this.current.tag === tag) || [...this.old].some((c) => c.tag === tag));
    this.lastTag = tag;
    const link: LaneLink = {
      slots: this.slots,
      tag,
      goaway: (c, reason) => this.goaway(c, reason),
      resend: (msgid) => this.resend(msgid),
      slotFree: (slot) => this.slotFree(slot),
      idle: (c) => this.idle(c),
      ended: (c) => this.ended(c),
    };
    return new LoadConnection({ ...this.base, link });
  }

  private goaway(c: LoadConnection, _reason: string): void {
    if (c !== this.current) return;
    this.current = null;
    this.nextDue = c.nextDue;
    this.old.add(c);
    c.drain();
    if (c.inflight === 0) this.idle(c);
    this.replace();
  }

  private resend(msgid: number): void {
    const cur = this.current;
    if (cur !== null && cur.isOpen) cur.resendRequest(msgid, this.single(msgid));
    else this.pending[this.pendingCount++] = msgid;
  }

  private slotFree(slot: number): void {
    if (!this.running) return;
    const cur = this.current;
    if (cur !== null && cur.isOpen) cur.takeSlot(slot);
    else this.waiting[this.waitingCount++] = slot;
  }

  private idle(c: LoadConnection): void {
    if (!this.old.has(c)) return;
    void c.close(1000).then(() => this.old.delete(c));
  }

  private ended(c: LoadConnection): void {
    this.old.delete(c);
    if (c !== this.current) return;
    this.current = null;
    if (this.openLoop) this.nextDue = c.nextDue;
    this.replace();
  }

  /** Opens the next connection, retrying with a backoff until one opens or the lane is closed. */
  private replace(): void {
    if (this.connecting || this.closed) return;
    this.connecting = true;
    void this.connectLoop();
  }

  private async connectLoop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      if (failures > 0) {
        const ms = Math.min(BACKOFF_MIN_MS * 2 ** (failures - 1), BACKOFF_MAX_MS);
        await new Promise<void>((resolve) => {
          this.wakeRetry = resolve;
          this.retryTimer = setTimeout(resolve, ms);
        });
        this.retryTimer = null;
        this.wakeRetry = null;
        if (this.closed) break;
      }
      const c = this.make();
      try {
        await c.connect(this.connectTimeoutMs);
      } catch {
        failures++;
        this.stats.reconnectFailures++;
        continue;
      }
      if (this.closed) {
        await c.close(200);
        break;
      }
      if (!c.isOpen || c.goneAway) {
        // Closed, or told to go, as soon as it opened (e.g. by a generation on its way out): nothing was sent on it yet.
        if (c.isOpen) void c.close(1000);
        failures++;
        this.stats.reconnectFailures++;
        continue;
      }
      this.stats.reconnects++;
      this.current = c;
      this.connecting = false;
      // Requests not run elsewhere go first, then the slots that were answered meanwhile.
      const n = this.pendingCount;
      this.pendingCount = 0;
      for (let i = 0; i < n; i++) {
        const m = this.pending[i]!;
        c.resendRequest(m, this.single(m));
      }
      const w = this.waitingCount;
      this.waitingCount = 0;
      c.resume(this.waiting, w, this.running, this.openLoop ? Math.max(this.nextDue, 0) : 0);
      return;
    }
    this.connecting = false;
  }
}
