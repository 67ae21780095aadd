/**
 * The ringloop client core, independent of what carries the bytes (see
 * transport.ts): calls and notifications batched per tick, timeouts, abort,
 * bounded queues, reconnect with backoff, goaway handover, pub/sub restore.
 *
 * Bounds: at most `maxInFlight` unanswered calls per connection, at most
 * `maxQueued` calls/notifications waiting (disconnected, or in-flight full),
 * at most `maxBufferedBytes` in the socket before calls wait and notify()
 * throws, messages of at most `maxMessageBytes`. Past a bound: QUEUE_FULL or
 * PAYLOAD_TOO_LARGE, never a silent drop.
 */
import { encode, rewriteMsgid } from './codec';
import { ClientErrorCode, clientError, RingloopError } from './codes';
import { Emitter } from './emitter';
import { backoffDelay, type ResolvedOptions } from './options';
import { Fifo } from './queue';
import type { Transport, TransportFactory } from './transport';
import { Subscriptions, type Subscription } from './subscriptions';

export interface CallOptions {
  /** Milliseconds from the call until CLIENT_TIMEOUT (0 = none); defaults to the client's `timeout`. */
  timeout?: number;
  /** Rejects the call with ABORTED when it fires (the server may still run it). */
  signal?: AbortSignal;
}

export interface ClientEvents {
  /** A connection is open (after connect, after each reconnect, after a goaway handover). */
  open: (info: { reconnected: boolean }) => void;
  /** The client's connection was lost (`final` once the client is closed or gave up). */
  close: (info: { code: number; reason: string; final: boolean }) => void;
  /** A reconnect attempt is scheduled in `delay` ms. */
  reconnecting: (info: { attempt: number; delay: number }) => void;
  /** The server asked this client to move (`ringloop.goaway`); new calls already go to a new connection. */
  goaway: (info: { reason: string }) => void;
  /** Subscriptions were restored after a lost connection: messages published while disconnected were missed. */
  resubscribed: (info: { topics: string[]; failed: Array<{ topic: string; error: RingloopError }> }) => void;
}
export type ClientEvent = keyof ClientEvents;
const EVENTS: ReadonlySet<string> = new Set(['open', 'close', 'reconnecting', 'goaway', 'resubscribed']);

/** One call or notification, from call() until it settles. */
interface Op {
  msgid: number; // -1 for a notification
  bytes: Uint8Array;
  resolve: (v: unknown) => void;
  reject: (e: RingloopError) => void;
  done: boolean;
  /** Resent once already after SHUTTING_DOWN / a 1001 close. */
  resent: boolean;
  /** Handed to a socket (so it may have run if the connection then drops). */
  flushed: boolean;
  receivedAtSend: number;
  conn: Conn | null;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Counted in `maxQueued`. */
  queued: boolean;
  /** What answered it (for subscriptions). */
  answeredOn?: Conn;
  /** Runs as the answer is read, before later messages of the same read (a promise would run after them). */
  onResult?: (conn: Conn) => void;
}

/** One transport connection and what is in flight on it. */
export class Conn {
  transport!: Transport;
  open = false;
  /** goaway received (or SHUTTING_DOWN): no new calls; closed once its calls are answered. */
  draining = false;
  readonly inflight = new Map<number, Op>();
  out: Op[] = [];
  /** Bytes in `out`: counted with the socket's own buffer against maxBufferedBytes. */
  outBytes = 0;
  flushScheduled = false;
  /** WebSocket messages (TCP reads) received: a call timing out with this unchanged since it was sent heard nothing at all. */
  received = 0;
  probing = false;
}

const noop = (): void => undefined;

export class RingloopClient {
  private readonly events = new Emitter<ClientEvents>();
  private readonly notifications = new Emitter<Record<string, (params: unknown[]) => void>>();
  private readonly queue = new Fifo<Op>();
  private queued = 0;
  private current: Conn | null = null;
  private readonly draining = new Set<Conn>();
  private nextId = 1;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  private closedWith: RingloopError | null = null;
  private lostConnection = false;
  private readonly subs: Subscriptions;
  private readonly closeWaiters: Array<() => void> = [];
  /** tcp:// or tls:// (no WebSocket close codes). */
  private readonly stream: boolean;

  constructor(
    readonly url: URL,
    private readonly opts: ResolvedOptions,
    private readonly factory: TransportFactory,
  ) {
    this.stream = url.protocol === 'tcp:' || url.protocol === 'tls:';
    this.subs = new Subscriptions({
      call: (m, p) => this.call(m, p),
      callOn: (conn, m, p, onResult) => this.callOn(conn, m, p, this.opts.timeout, onResult),
      callTracked: (m, p, onResult) => this.callTracked(m, p, onResult),
      current: () => this.current,
    });
    this.openConnection();
  }

  /** Resolves once a connection is open (at once if one is); rejects if the client closes or gives up first. */
  opened(): Promise<void> {
    if (this.current?.open) return Promise.resolve();
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const offOpen = this.events.on('open', () => {
        offOpen();
        offClose();
        resolve();
      });
      const offClose = this.events.on('close', (info) => {
        if (!info.final) return;
        offOpen();
        offClose();
        reject(this.closedWith ?? clientError(ClientErrorCode.CLIENT_CLOSED, 'client closed'));
      });
    });
  }

  get isOpen(): boolean {
    return this.current?.open === true;
  }

  /** Calls waiting to be sent (disconnected, or `maxInFlight` reached). */
  get queuedCount(): number {
    return this.queued;
  }

  call<T = unknown>(method: string, params: unknown[] = [], options: CallOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      const msgid = this.nextMsgid();
      const bytes = this.encodeOrReject(method, params, reject, msgid);
      if (!bytes) return;
      if (options === null || typeof options !== 'object') return reject(clientError(ClientErrorCode.ENCODE_ERROR, 'call options must be an object'));
      const op = this.newOp(msgid, bytes, resolve as (v: unknown) => void, reject);
      const signal = options.signal;
      if (signal) {
        if (signal.aborted) return reject(clientError(ClientErrorCode.ABORTED, `${method}: aborted before it was sent`));
        op.signal = signal;
        op.onAbort = () => this.fail(op, clientError(ClientErrorCode.ABORTED, `${method}: aborted`));
        signal.addEventListener('abort', op.onAbort, { once: true });
      }
      const timeout = options.timeout ?? this.opts.timeout;
      if (typeof timeout !== 'number' || !(timeout >= 0)) return this.fail(op, clientError(ClientErrorCode.ENCODE_ERROR, `timeout must be a number >= 0, got ${String(timeout)}`));
      if (timeout > 0) op.timer = setTimeout(() => this.timedOut(op, method, timeout), timeout);
      this.submit(op);
    });
  }

  /** Sends a notification (never answered). Throws RingloopError QUEUE_FULL / ENCODE_ERROR / CLIENT_CLOSED. */
  notify(method: string, params: unknown[] = []): void {
    if (this.closedWith) throw this.closedWith;
    let failure: RingloopError | undefined;
    const bytes = this.encodeOrReject(method, params, (e) => (failure = e), -1);
    if (!bytes) throw failure!;
    const op = this.newOp(-1, bytes, noop, noop);
    const conn = this.current;
    if (conn && this.queue.length === 0 && this.writable(conn)) return this.send(conn, op);
    if (this.queued >= this.opts.maxQueued) throw clientError(ClientErrorCode.QUEUE_FULL, `${method}: ${this.opts.maxQueued} calls already waiting`);
    this.enqueue(op);
  }

  subscribe(topic: string, onMessage: (data: unknown, topic: string) => void): Promise<Subscription> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return this.subs.subscribe(topic, onMessage);
  }

  publish(topic: string, data: unknown): Promise<boolean> {
    return this.call<boolean>('ringloop.publish', [topic, data]);
  }

  /** Client events (open, close, reconnecting, goaway, resubscribed), or server notifications by method name. Returns a function that removes the handler. */
  on<K extends ClientEvent>(event: K, handler: ClientEvents[K]): () => void;
  on(method: string, handler: (params: unknown[]) => void): () => void;
  on(name: string, handler: (...args: never[]) => void): () => void {
    if (typeof name !== 'string' || name === '') throw new TypeError('ringloop client: on() needs an event or method name');
    if (typeof handler !== 'function') throw new TypeError(`ringloop client: on(${name}) needs a function`);
    if (EVENTS.has(name)) return this.events.on(name as ClientEvent, handler as ClientEvents[ClientEvent]);
    return this.notifications.on(name, handler as (params: unknown[]) => void);
  }

  off(name: string, handler: (...args: never[]) => void): void {
    if (EVENTS.has(name)) this.events.off(name as ClientEvent, handler as ClientEvents[ClientEvent]);
    else this.notifications.off(name, handler as (params: unknown[]) => void);
  }

  /** Fails everything not answered with CLIENT_CLOSED, closes the connections (1000); resolves once they are closed. */
  close(): Promise<void> {
    if (!this.closedWith) this.shutdown(clientError(ClientErrorCode.CLIENT_CLOSED, 'client closed'), 1000, 'client closed');
    const conns = [...this.draining, ...(this.current ? [this.current] : [])];
    if (conns.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  // ---- sending ----

  private nextMsgid(): number {
    const id = this.nextId;
    this.nextId = id === 0xffffffff ? 1 : id + 1;
    return id;
  }

  private encodeOrReject(method: string, params: unknown[], reject: (e: RingloopError) => void, msgid: number): Uint8Array | null {
    if (typeof method !== 'string' || method === '') {
      reject(clientError(ClientErrorCode.ENCODE_ERROR, `method must be a non-empty string, got ${typeof method}`));
      return null;
    }
    if (!Array.isArray(params)) {
      reject(clientError(ClientErrorCode.ENCODE_ERROR, `${method}: params must be an array`));
      return null;
    }
    let bytes: Uint8Array;
    try {
      bytes = encode(msgid < 0 ? [2, method, params] : [0, msgid, method, params]);
    } catch (e) {
      reject(clientError(ClientErrorCode.ENCODE_ERROR, `${method}: ${(e as Error).message}`));
      return null;
    }
    if (bytes.length > this.opts.maxMessageBytes) {
      reject(clientError(ClientErrorCode.PAYLOAD_TOO_LARGE, `${method}: ${bytes.length} bytes encoded, over maxMessageBytes ${this.opts.maxMessageBytes}`));
      return null;
    }
    return bytes;
  }

  private newOp(msgid: number, bytes: Uint8Array, resolve: (v: unknown) => void, reject: (e: RingloopError) => void): Op {
    return { msgid, bytes, resolve, reject, done: false, resent: false, flushed: false, receivedAtSend: 0, conn: null, timer: undefined, signal: undefined, onAbort: undefined, queued: false };
  }

  private submit(op: Op): void {
    const conn = this.current;
    if (conn && this.queue.length === 0 && this.sendable(conn)) return this.send(conn, op);
    if (this.queued >= this.opts.maxQueued) return this.fail(op, clientError(ClientErrorCode.QUEUE_FULL, `${this.opts.maxQueued} calls already waiting to be sent`));
    this.enqueue(op);
  }

  private enqueue(op: Op): void {
    op.queued = true;
    this.queued++;
    this.queue.push(op);
    if (this.current?.open) this.schedulePump(0); // waiting on the send buffer, or behind such an op
  }

  private writable(conn: Conn): boolean {
    return conn.open && !conn.draining && conn.transport.buffered() + conn.outBytes <= this.opts.maxBufferedBytes;
  }

  private sendable(conn: Conn): boolean {
    return this.writable(conn) && conn.inflight.size < this.opts.maxInFlight;
  }

  /** Puts op on conn's next flush (one WebSocket message per tick, split at maxMessageBytes). */
  private send(conn: Conn, op: Op): void {
    op.conn = conn;
    op.receivedAtSend = conn.received;
    if (op.msgid >= 0) {
      if (conn.inflight.has(op.msgid)) {
        // msgid wrapped onto a call still unanswered here: take a fresh one
        op.msgid = this.nextMsgid();
        op.bytes = rewriteMsgid(op.bytes, op.msgid);
      }
      conn.inflight.set(op.msgid, op);
    }
    conn.out.push(op);
    conn.outBytes += op.bytes.length;
    if (!conn.flushScheduled) {
      conn.flushScheduled = true;
      queueMicrotask(() => this.flush(conn));
    }
  }

  private flush(conn: Conn): void {
    conn.flushScheduled = false;
    const ops = conn.out;
    conn.out = [];
    conn.outBytes = 0;
    if (!conn.open) return; // the close handler resends or fails them (op.flushed is false)
    const max = this.opts.maxMessageBytes;
    let i = 0;
    while (i < ops.length) {
      let size = 0;
      let j = i;
      while (j < ops.length && (j === i || size + ops[j].bytes.length <= max)) size += ops[j++].bytes.length;
      let frame: Uint8Array;
      if (j - i === 1) frame = ops[i].bytes;
      else {
        frame = new Uint8Array(size);
        let at = 0;
        for (let k = i; k < j; k++) {
          frame.set(ops[k].bytes, at);
          at += ops[k].bytes.length;
        }
      }
      if (conn.transport.send(frame)) for (let k = i; k < j; k++) ops[k].flushed = true;
      // Not taken (the socket is closing): kept unflushed for the close handler, which resends them.
      else for (let k = i; k < j; k++) conn.out.push(ops[k]);
      i = j;
    }
  }

  private schedulePump(ms: number): void {
    if (this.pumpTimer !== undefined || this.closedWith) return;
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = undefined;
      this.pump();
    }, ms);
  }

  /** Moves waiting ops onto the current connection while it can take them. */
  private pump(): void {
    const conn = this.current;
    if (!conn || !conn.open) return;
    for (let op = this.queue.peek(); op !== undefined; op = this.queue.peek()) {
      if (op.done) {
        this.queue.shift();
        continue;
      }
      if (op.msgid >= 0 ? !this.sendable(conn) : !this.writable(conn)) {
        // An answer pumps again when in-flight is full; the send buffer has no event to wait for.
        if (conn.inflight.size < this.opts.maxInFlight || op.msgid < 0) this.schedulePump(10);
        return;
      }
      this.queue.shift();
      if (op.queued) {
        op.queued = false;
        this.queued--;
      }
      this.send(conn, op);
    }
  }

  private callTracked(method: string, params: unknown[], onResult?: (conn: Conn) => void): Promise<{ result: unknown; conn: Conn | undefined }> {
    return new Promise((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      const msgid = this.nextMsgid();
      const bytes = this.encodeOrReject(method, params, reject, msgid);
      if (!bytes) return;
      const op: Op = this.newOp(msgid, bytes, (v) => resolve({ result: v, conn: op.answeredOn }), reject);
      op.onResult = onResult;
      if (this.opts.timeout > 0) op.timer = setTimeout(() => this.fail(op, clientError(ClientErrorCode.CLIENT_TIMEOUT, `${method}: no answer within ${this.opts.timeout} ms`)), this.opts.timeout);
      this.submit(op);
    });
  }

  /** Sends on a given connection, bypassing the queue (subscription restore, liveness probe). */
  private callOn(conn: Conn, method: string, params: unknown[], timeout = this.opts.timeout, onResult?: (conn: Conn) => void): Promise<{ result: unknown; conn: Conn }> {
    return new Promise((resolve, reject) => {
      const msgid = this.nextMsgid();
      const bytes = this.encodeOrReject(method, params, reject, msgid);
      if (!bytes) return;
      const op = this.newOp(msgid, bytes, (v) => resolve({ result: v, conn }), reject);
      op.onResult = onResult;
      op.resent = true; // internal calls are not moved to another connection
      if (timeout > 0) op.timer = setTimeout(() => this.fail(op, clientError(ClientErrorCode.CLIENT_TIMEOUT, `${method}: no answer within ${timeout} ms`)), timeout);
      this.send(conn, op);
    });
  }

  // ---- settling ----

  private settle(op: Op): boolean {
    if (op.done) return false;
    op.done = true;
    if (op.timer !== undefined) clearTimeout(op.timer);
    if (op.signal && op.onAbort) op.signal.removeEventListener('abort', op.onAbort);
    if (op.queued) {
      op.queued = false;
      this.queued--;
    }
    const conn = op.conn;
    if (conn && op.msgid >= 0 && conn.inflight.get(op.msgid) === op) {
      conn.inflight.delete(op.msgid);
      this.maybeRetire(conn);
    }
    return true;
  }

  private fail(op: Op, err: RingloopError): void {
    if (this.settle(op)) op.reject(err);
    this.pump();
  }

  private timedOut(op: Op, method: string, timeout: number): void {
    const conn = op.conn;
    this.fail(op, clientError(ClientErrorCode.CLIENT_TIMEOUT, `${method}: no answer within ${timeout} ms`));
    // Nothing heard on this connection since the call went out: make sure the server is still there.
    if (conn && conn.open && op.flushed && conn.received === op.receivedAtSend) this.probe(conn);
  }

  /** Any answer (even METHOD_NOT_FOUND from an older server) proves the server alive; none within 5 s drops the connection. */
  private probe(conn: Conn): void {
    if (conn.probing) return;
    conn.probing = true;
    const timeout = Math.min(5000, this.opts.timeout > 0 ? this.opts.timeout : 5000);
    this.callOn(conn, 'ringloop.unsubscribe', ['ringloop-client.probe'], timeout).then(
      () => (conn.probing = false),
      (e: RingloopError) => {
        conn.probing = false;
        if (e.code === ClientErrorCode.CLIENT_TIMEOUT && conn.open) conn.transport.terminate();
      },
    );
  }

  // ---- receiving ----

  private received(conn: Conn, messages: unknown[]): void {
    conn.received++;
    for (const m of messages) {
      if (!Array.isArray(m)) continue;
      if (m[0] === 1 && m.length === 4) this.response(conn, m[1], m[2], m[3]);
      else if (m[0] === 2 && m.length === 3 && typeof m[1] === 'string' && Array.isArray(m[2])) this.notification(conn, m[1], m[2] as unknown[]);
    }
    this.pump();
  }

  private response(conn: Conn, msgid: unknown, error: unknown, result: unknown): void {
    const op = typeof msgid === 'number' ? conn.inflight.get(msgid) : undefined;
    if (!op) return; // answer to a call that already timed out or was aborted
    if (error === null || error === undefined) {
      op.answeredOn = conn;
      if (!op.done) op.onResult?.(conn);
      if (this.settle(op)) op.resolve(result);
      return;
    }
    const e = (typeof error === 'object' ? error : {}) as { code?: unknown; message?: unknown; data?: unknown };
    const code = typeof e.code === 'string' ? e.code : 'UNKNOWN';
    if (code === 'SHUTTING_DOWN') {
      // Never run (CONTRACT.md): this server is going away; resend once elsewhere.
      this.goaway(conn, 'shutdown');
      if (!op.resent) {
        conn.inflight.delete(op.msgid);
        this.maybeRetire(conn);
        return this.resend(op);
      }
    }
    if (this.settle(op)) op.reject(new RingloopError(code, typeof e.message === 'string' ? e.message : String(e.message ?? code), e.data));
  }

  private resend(op: Op): void {
    op.resent = true;
    op.flushed = false;
    op.conn = null;
    this.queue.unshift(op); // ahead of newer calls; not counted against maxQueued (it already was admitted)
    this.pump();
  }

  private notification(conn: Conn, method: string, params: unknown[]): void {
    if (method === 'ringloop.goaway') {
      const info = params[0] as { reason?: unknown } | undefined;
      this.goaway(conn, typeof info?.reason === 'string' ? info.reason : 'unknown');
      return;
    }
    if (method === 'ringloop.message') {
      if (typeof params[0] === 'string') this.subs.deliver(conn, params[0], params[1]);
      return;
    }
    this.notifications.emit(method, params);
  }

  // ---- connections ----

  private openConnection(): void {
    const conn = new Conn();
    this.current = conn;
    let opened = false;
    try {
      conn.transport = this.factory(this.url, this.opts, {
        open: () => {
          opened = true;
          conn.open = true;
          this.opened_(conn);
        },
        messages: (ms) => this.received(conn, ms),
        close: (code, reason) => this.closed(conn, code, reason, opened),
      });
    } catch (e) {
      // A transport that cannot even start (bad TLS options...): same as a failed attempt.
      conn.transport = { send: () => false, buffered: () => 0, close: noop, terminate: noop };
      queueMicrotask(() => this.closed(conn, 1006, (e as Error).message, false));
    }
  }

  private opened_(conn: Conn): void {
    if (this.closedWith) return conn.transport.close(1000, 'client closed');
    if (conn !== this.current) return;
    this.attempt = 0;
    const reconnected = this.lostConnection;
    this.lostConnection = false;
    this.events.emit('open', { reconnected });
    void this.subs.restore(conn).then((r) => {
      if (r.topics.length + r.failed.length > 0) this.events.emit('resubscribed', r);
      for (const old of this.draining) this.maybeRetire(old);
    });
    this.pump();
  }

  private goaway(conn: Conn, reason: string): void {
    if (conn.draining) return;
    conn.draining = true;
    this.draining.add(conn);
    if (conn === this.current) {
      this.current = null;
      if (!this.closedWith) this.openConnection();
    }
    this.events.emit('goaway', { reason });
    this.maybeRetire(conn);
  }

  /** A draining connection with nothing in flight is closed by the client (CONTRACT.md "Hot restart"). */
  private maybeRetire(conn: Conn): void {
    // Kept open while it still carries subscriptions the new connection has not confirmed yet.
    if (conn.draining && conn.inflight.size === 0 && conn.open && !this.subs.dependsOn(conn)) {
      queueMicrotask(() => {
        if (conn.inflight.size === 0 && conn.open && !this.subs.dependsOn(conn)) conn.transport.close(1000, 'goaway');
      });
    }
  }

  private closed(conn: Conn, code: number, reason: string, wasOpen: boolean): void {
    conn.open = false;
    this.draining.delete(conn);
    // Not yet flushed: never left. 1001: the server answers all it ran before closing, so the rest never ran.
    // TCP has no close codes: a server's clean close after goaway is its 1001.
    const notRun = code === 1001 || (conn.draining && code === 1000 && this.stream);
    const again: Op[] = [];
    for (const op of [...conn.inflight.values(), ...conn.out.filter((o) => o.msgid < 0)]) {
      if (op.done) continue;
      if (op.msgid >= 0) conn.inflight.delete(op.msgid);
      if (!this.closedWith && (!op.flushed || (notRun && !op.resent))) {
        if (op.flushed) op.resent = true;
        op.flushed = false;
        op.conn = null;
        again.push(op);
      } else if (op.msgid >= 0 && this.settle(op)) {
        op.reject(this.closedWith ?? clientError(ClientErrorCode.DISCONNECTED, `connection lost (${code}${reason ? ' ' + reason : ''}) before the answer; the call may have run`, { code, reason }));
      }
    }
    for (let i = again.length - 1; i >= 0; i--) this.queue.unshift(again[i]); // ahead of newer calls, in their order
    conn.out = [];
    conn.outBytes = 0;
    conn.inflight.clear();
    this.subs.connectionClosed(conn);
    if (this.closedWith) {
      if (this.current === conn) this.current = null;
      if (!this.current && this.draining.size === 0) this.closeWaiters.splice(0).forEach((f) => f());
      return;
    }
    if (conn !== this.current) return this.pump();
    this.current = null;
    if (wasOpen) {
      this.lostConnection = true;
      this.events.emit('close', { code, reason, final: false });
    }
    this.scheduleReconnect(code, reason, wasOpen && (code === 1001 || conn.draining));
  }

  private scheduleReconnect(code: number, reason: string, immediate: boolean): void {
    const policy = this.opts.reconnect;
    if (policy === false || this.attempt >= policy.maxAttempts) {
      const why = policy === false ? 'reconnect is off' : `gave up after ${this.attempt} attempts`;
      this.shutdown(clientError(ClientErrorCode.RECONNECT_FAILED, `connection to ${this.url.href} lost (${code}${reason ? ' ' + reason : ''}); ${why}`, { code, reason }), code, reason);
      return;
    }
    const delay = immediate && this.attempt === 0 ? 0 : backoffDelay(policy, this.attempt);
    this.attempt++;
    this.events.emit('reconnecting', { attempt: this.attempt, delay });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closedWith) this.openConnection();
    }, delay);
  }

  /** Ends the client: everything pending fails with `err`, every connection closes. */
  private shutdown(err: RingloopError, code: number, reason: string): void {
    this.closedWith = err;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    if (this.pumpTimer !== undefined) clearTimeout(this.pumpTimer);
    for (const op of this.queue.drain()) if (this.settle(op)) op.reject(err);
    for (const conn of [...this.draining, ...(this.current ? [this.current] : [])]) {
      for (const op of [...conn.inflight.values()]) if (this.settle(op)) op.reject(err);
      conn.transport.close(1000, 'client closed');
    }
    this.subs.clear();
    this.events.emit('close', { code, reason, final: true });
  }
}
