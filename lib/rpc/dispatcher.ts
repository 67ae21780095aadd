/**
 * The MessagePack-RPC dispatcher: an EventHandler that runs methods, keeps
 * per-connection in-flight counts and deadlines, and answers every request
 * exactly once (result or error) unless its connection is gone.
 */
import type { Logger } from 'pino';
import type { Connection, EventHandler, RpcMessage } from '../reactor/types';
import type { BaseConnection } from '../reactor/connection';
import { ErrorCode, RpcError, type RpcErrorBody } from '../errors';
import { encodeError, writeResult } from '../protocol/codec';
import { Call, type FrameClock } from './call';
import { Deadlines } from './deadlines';
import type { MethodEntry, MethodRegistry } from './methods';
import type { RpcMetrics } from '../metrics/rpc-metrics';
import type { WorkerPool } from '../pool/pool';
import { PoolCall, type PoolCallSink } from '../pool/pool-call';
import { poolErrorBody, spliceResult, STATUS_OK } from '../pool/wire';

export interface DispatcherOptions {
  maxInflight: number;
  requestTimeoutMs: number;
}

const MAX_NAME_IN_MESSAGE = 100;

function shortName(name: string): string {
  return name.length > MAX_NAME_IN_MESSAGE ? `${name.slice(0, MAX_NAME_IN_MESSAGE)}…` : name;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

export function errorBody(e: unknown): RpcErrorBody {
  if (e instanceof RpcError) return e.toBody();
  const message = e instanceof Error ? e.message : typeof e === 'string' ? e : 'handler failed';
  return { code: ErrorCode.HANDLER_ERROR, message };
}

/** Dispatcher.frameStart outside a frame, and inside one before the clock is read. */
export const NO_FRAME = -2;
export const FRAME_UNREAD = -1;

export class Dispatcher implements EventHandler, PoolCallSink, FrameClock {
  private readonly deadlines: Deadlines;
  /** Calls of async methods not settled yet (requests and notifications). */
  private pendingCount = 0;
  private draining = false;
  private idleWaiters: Array<() => void> = [];
  /**
   * performance.now() at the start of the frame being read, or -1 until a call
   * asks for it (frameNow): a frame of sync calls reads no clock. NO_FRAME
   * between frames: a call made outside one reads the clock itself.
   */
  frameStart = NO_FRAME;
  /** Requests answered synchronously while reading the current frame (their duration is observed at flush). */
  syncAnswered = 0;
  /** The worker pool running offloaded methods, while the reactor listens. */
  pool: WorkerPool | null = null;

  constructor(
    private readonly methods: MethodRegistry,
    private readonly opts: DispatcherOptions,
    private readonly log: Logger,
    private readonly metrics: RpcMetrics,
  ) {
    this.deadlines = new Deadlines((call) => this.expire(call));
  }

  frameNow(): number {
    const t = this.frameStart;
    if (t >= 0) return t;
    const now = performance.now();
    if (t === FRAME_UNREAD) this.frameStart = now;
    return now;
  }

  get pending(): number {
    return this.pendingCount;
  }

  onReadable(conn: Connection, msg: RpcMessage): void {
    const c = conn as BaseConnection;
    if (msg.kind === 'request') this.request(c, msg.msgid, msg.method, msg.params);
    else this.notification(c, msg.method, msg.params);
  }

  onClose(conn: Connection): void {
    const c = conn as BaseConnection;
    const calls = c.calls;
    if (calls === null) return;
    c.calls = null;
    for (const call of calls) {
      this.settle(call);
      call.abort('connection closed');
    }
  }

  request(conn: BaseConnection, msgid: number, method: string, params: unknown[]): void {
    if (this.draining) return this.refuse(conn, msgid, ErrorCode.SHUTTING_DOWN, 'server is shutting down');
    if (conn.inflight >= this.opts.maxInflight) {
      return this.refuse(conn, msgid, ErrorCode.OVERLOADED, `more than ${this.opts.maxInflight} requests in flight on this connection`);
    }
    const entry = this.methods.get(method);
    if (entry === undefined) return this.refuse(conn, msgid, ErrorCode.METHOD_NOT_FOUND, `method "${shortName(method)}" not found`);
    if (entry.poolIndex >= 0 && this.pool !== null) return this.offload(conn, msgid, entry, params, this.pool);
    const timeoutMs = entry.timeoutMs ?? this.opts.requestTimeoutMs;
    const call = new Call(conn, msgid, method, this.log, timeoutMs, this);
    let result: unknown;
    try {
      result = entry.fn(params, call);
    } catch (e) {
      this.answerError(call, errorBody(e), true);
      return;
    }
    if (isThenable(result)) {
      this.track(call);
      result.then(
        (v) => this.finish(call, v),
        (e) => this.fail(call, e),
      );
    } else {
      this.answerResult(call, result, true);
    }
  }

  notification(conn: BaseConnection, method: string, params: unknown[]): void {
    const entry = this.methods.get(method);
    if (this.draining || entry === undefined || conn.inflight >= this.opts.maxInflight) {
      // Notifications are never answered; count what was dropped so it is not silent.
      this.metrics.notificationsDropped.inc();
      this.log.debug({ conn: conn.id, method: shortName(method) }, 'notification dropped');
      return;
    }
    this.metrics.notifications.inc();
    if (entry.poolIndex >= 0 && this.pool !== null) return this.offload(conn, -1, entry, params, this.pool);
    const timeoutMs = entry.timeoutMs ?? this.opts.requestTimeoutMs;
    const call = new Call(conn, -1, method, this.log, timeoutMs, this);
    let result: unknown;
    try {
      result = entry.fn(params, call);
    } catch (e) {
      this.notificationFailed(conn, method, e);
      return;
    }
    if (isThenable(result)) {
      this.track(call);
      result.then(
        () => this.finish(call, undefined),
        (e) => this.fail(call, e),
      );
    }
  }

  /**
   * An offloaded method: params checked here (validate), then queued on the
   * pool. The PoolCall is the pool's task; its abort() (timeout, disconnect,
   * shutdown deadline) cancels the task, so a queued task never runs.
   */
  private offload(conn: BaseConnection, msgid: number, entry: MethodEntry, params: unknown[], pool: WorkerPool): void {
    const timeoutMs = entry.timeoutMs ?? this.opts.requestTimeoutMs;
    const call = new PoolCall(conn, msgid, entry.name, this.log, timeoutMs, this, pool, this);
    let queued: boolean;
    try {
      if (entry.validate !== null) entry.validate(params);
      queued = pool.submit(call, entry.poolIndex, params);
    } catch (e) {
      if (msgid >= 0) this.answerError(call, errorBody(e), true);
      else this.notificationFailed(conn, entry.name, e);
      return;
    }
    if (!queued) {
      if (msgid >= 0) this.refuse(conn, msgid, ErrorCode.OVERLOADED, 'worker pool queue is full');
      else this.metrics.notificationsDropped.inc();
      return;
    }
    this.track(call);
  }

  /** A pool task finished (or its worker died): answer unless the call was settled already (its result is then discarded). */
  poolDone(call: PoolCall, status: number, body: Uint8Array | null): void {
    if (!this.settle(call)) return;
    if (call.msgid < 0) return;
    if (status === STATUS_OK && body !== null) {
      call.conn.write(spliceResult(call.msgid, body));
      this.metrics.outcome.ok.inc();
      this.observe(call, false);
    } else {
      this.answerError(call, poolErrorBody(status, body), false);
    }
  }

  /** Graceful shutdown, step 2: new requests get SHUTTING_DOWN; resolves when nothing is running. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.pendingCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Shutdown deadline: everything still running was started, so it is answered TIMEOUT (SHUTTING_DOWN means never run). */
  abortAll(): void {
    for (const call of [...this.deadlines.pending()]) {
      this.settle(call);
      call.abort('server shutting down');
      if (call.msgid >= 0) this.sendError(call, { code: ErrorCode.TIMEOUT, message: 'cut short at the server\'s drain deadline' });
    }
    this.deadlines.close();
  }

  close(): void {
    this.deadlines.close();
  }

  /** Notifications are never answered: a failure is only logged. */
  private notificationFailed(conn: BaseConnection, method: string, e: unknown): void {
    this.log.debug({ conn: conn.id, method: shortName(method), err: errorBody(e).message }, 'notification failed');
  }

  private track(call: Call): void {
    const conn = call.conn;
    conn.inflight++;
    this.pendingCount++;
    (conn.calls ??= new Set()).add(call);
    this.deadlines.add(call);
  }

  /** Unlinks a tracked call; false if it was already settled. */
  private settle(call: Call): boolean {
    if (call.settled) return false;
    call.settled = true;
    this.deadlines.remove(call);
    const conn = call.conn;
    conn.inflight--;
    conn.calls?.delete(call);
    if (--this.pendingCount === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    return true;
  }

  private finish(call: Call, value: unknown): void {
    if (!this.settle(call)) return; // timed out, cancelled or shut down: the client already has its answer
    if (call.msgid >= 0) this.answerResult(call, value, false);
  }

  private fail(call: Call, e: unknown): void {
    if (!this.settle(call)) return;
    if (call.msgid >= 0) this.answerError(call, errorBody(e), false);
    else this.notificationFailed(call.conn, call.method, e);
  }

  private expire(call: Call): void {
    this.settle(call);
    call.abort('request timed out');
    if (call.msgid >= 0) {
      this.sendError(call, { code: ErrorCode.TIMEOUT, message: `no answer within ${call.timeoutMs / 1000} s` });
    }
  }

  private answerResult(call: Call, value: unknown, sync: boolean): void {
    try {
      writeResult(call.conn, call.msgid, value);
    } catch (e) {
      this.answerError(call, { code: ErrorCode.HANDLER_ERROR, message: `result could not be encoded: ${errorBody(e).message}` }, sync);
      return;
    }
    this.metrics.outcome.ok.inc();
    this.observe(call, sync);
  }

  private answerError(call: Call, body: RpcErrorBody, sync: boolean): void {
    this.sendError(call, body);
    if (sync) this.syncAnswered++;
    else this.metrics.duration.observe((performance.now() - call.started) / 1000);
  }

  private observe(call: Call, sync: boolean): void {
    if (sync) this.syncAnswered++;
    else this.metrics.duration.observe((performance.now() - call.started) / 1000);
  }

  private sendError(call: Call, body: RpcErrorBody): void {
    this.metrics.countError(body.code);
    call.conn.write(encodeError(call.msgid, body));
  }

  /** Answers a request that never reached a method. */
  private refuse(conn: BaseConnection, msgid: number, code: ErrorCode, message: string): void {
    this.metrics.countError(code);
    this.syncAnswered++;
    conn.write(encodeError(msgid, { code, message }));
  }
}
