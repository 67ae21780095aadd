/**
 * The reactor core: one thread that owns the connection table, turns
 * transport events into EventHandler calls (the MessagePack-RPC dispatcher
 * first), batches each connection's output per event-loop turn, and runs the
 * idle timeout, goaway, retirement and graceful shutdown. It names no
 * transport, plugin, auth scheme or pool: lib/server/reactor.ts composes those
 * around it (ReactorParts), so the request's walk stays socket → decode →
 * dispatch → handler/pool → encode → send.
 */
import pino, { type Logger } from 'pino';
import { ConfigError, CloseCode, ErrorCode, RpcError } from '../errors';
import { decodeFrame, encodeError, encodeNotification, type FrameSink } from '../protocol/codec';
import { Dispatcher, FRAME_UNREAD, NO_FRAME } from '../rpc/dispatcher';
import { MethodRegistry } from '../rpc/methods';
import { RpcMetrics } from '../metrics/rpc-metrics';
import type { BaseConnection, ConnectionOwner } from './connection';
import { resolveOptions, type ReactorOptions } from './options';
import { MemoryBudget } from './memory-budget';
import type { EventHandler, MethodFn, MethodOptions, RpcMessage } from './types';
import { announcer } from './log';

export interface ReactorCoreOptions extends Partial<ReactorOptions> {
  /** A pino logger; by default JSON lines on stdout at `logLevel`. */
  logger?: Logger;
  logLevel?: string;
}

export interface ListenInfo {
  host: string;
  port: number;
  tcpPort: number | null;
}

/** What the core needs of a transport (lib/transports/ implements it). */
export interface Listener {
  readonly name: string;
  /** Graceful shutdown step 1: refuse new connections, keep open ones. */
  stopAccepting(): void;
  /** Sockets not fully closed yet: shutdown waits (within its deadline) for them to flush. */
  lingering(): number;
  /** Force-close whatever is still open (HTTP keep-alive sockets, lingering peers). */
  closeAll(): void;
}

/**
 * What composition plugs into the core: a gate for requests on connections
 * that must authenticate first, and the parts to stop at shutdown.
 */
export interface Gate {
  request(conn: BaseConnection, msgid: number, method: string, params: unknown[]): void;
}

/**
 * listening → retiring (hot restart: an older generation, not accepting, serving its clients until they
 * leave) → draining (graceful shutdown, or a retiring generation's deadline) → closed.
 */
type State = 'new' | 'listening' | 'retiring' | 'draining' | 'closed';

/** Why connections are told to go away (CONTRACT.md: `ringloop.goaway`). */
export type GoawayReason = 'shutdown' | 'restart';

export abstract class ReactorCore implements ConnectionOwner, FrameSink {
  readonly options: ReactorOptions;
  readonly log: Logger;
  readonly metrics: RpcMetrics;
  readonly maxBackpressure: number;
  readonly memory: MemoryBudget;
  protected readonly methods = new MethodRegistry();
  protected readonly dispatcher: Dispatcher;
  protected readonly handlers: EventHandler[] = [];
  /** Handlers besides the dispatcher that want onReadable; empty on the fast path. */
  private observers: EventHandler[] = [];
  private readonly conns = new Set<BaseConnection>();
  /** Open connections per client address; kept only when --max-connections-per-ip is set. */
  private readonly perIp = new Map<string, number>();
  protected transports: Listener[] = [];
  /** Requests on connections still authenticating go here (set by composition when auth is on). */
  protected gate: Gate | null = null;
  private readonly shutdownHooks: Array<{ fn: () => unknown; owner: string }> = [];
  private readonly bootHooks: Array<{ fn: () => unknown; owner: string }> = [];
  /** Parts stopped last at shutdown (the worker pool), given the ms left. */
  private readonly stopHooks: Array<(msLeft: number) => Promise<void>> = [];
  protected state: State = 'new';
  private closing: Promise<void> | null = null;
  private readonly owner = 'application';
  private tickTimers: NodeJS.Timeout[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  /** Where listen() bound, once it has. */
  listenInfo: ListenInfo | null = null;
  reading: BaseConnection | null = null;
  private frames = 0;
  private syncFrameSeconds = 0;
  clock = Date.now();
  private dirty: BaseConnection[] = [];
  private flushScheduled = false;
  /** The coalescing connection whose read is being handled: its answers wait for the read to end. */
  private held: BaseConnection | null = null;
  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    this.held = null;
    const list = this.dirty;
    this.dirty = [];
    for (const c of list) if (c.dirty) c.flush(true);
  };

  constructor(opts: ReactorCoreOptions = {}) {
    const { logger, logLevel, ...rest } = opts;
    this.options = resolveOptions(rest);
    this.maxBackpressure = this.options.maxBackpressure;
    this.log = logger ?? pino({ level: logLevel ?? 'info', base: { pid: process.pid } });
    this.metrics = new RpcMetrics(() => this.dispatcher.pending);
    this.memory = new MemoryBudget(this); // --max-buffered-total
    this.dispatcher = new Dispatcher(
      this.methods,
      { maxInflight: this.options.maxInflight, requestTimeoutMs: Math.round(this.options.requestTimeout * 1000) },
      this.log,
      this.metrics,
    );
    this.handlers.push(this.dispatcher);
  }

  get draining(): boolean {
    return this.state === 'draining' || this.state === 'closed';
  }

  /** Listening, or retiring: its connections are served normally. */
  private get serving(): boolean {
    return this.state === 'listening' || this.state === 'retiring';
  }

  /** Sends `[2, "ringloop.goaway", [{reason}]]` to every open connection. */
  goaway(reason: GoawayReason): void {
    const bytes = encodeNotification('ringloop.goaway', [{ reason }]);
    for (const c of this.conns) c.write(bytes);
    this.log.info({ reason, connections: this.conns.size }, 'goaway sent');
  }

  /** Stops accepting connections (open ones are kept); the first step of retire() and close(). */
  stopAccepting(): void {
    for (const t of this.transports) t.stopAccepting();
  }

  /**
   * Hot restart, old generation (CONTRACT.md "Hot restart"): stop accepting, send goaway
   * (reason restart), serve the open connections normally until their clients close them or
   * --drain-timeout passes; then close them as shutdown does at its deadline. Resolves when closed.
   */
  retire(): Promise<void> {
    if (this.closing === null) this.closing = this.retireThenClose();
    return this.closing;
  }

  private async retireThenClose(): Promise<void> {
    const started = Date.now();
    const drainMs = this.options.drainTimeout * 1000;
    if (this.state === 'listening') this.state = 'retiring';
    this.stopAccepting();
    this.goaway('restart');
    this.flushAll();
    const deadline = started + drainMs - Math.min(500, drainMs * 0.2);
    while (this.conns.size > 0 && Date.now() < deadline) await sleep(10);
    this.log.info({ connections: this.conns.size, inflight: this.dispatcher.pending, ms: Date.now() - started }, 'retire: clients gone or deadline reached');
    await this.shutdown(started, false);
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Registers a method. `fn` may return a value or a promise; throw RpcError for a specific code. */
  method(name: string, fn: MethodFn, options?: MethodOptions): this {
    if (options?.offload) throw new ConfigError(`method ${JSON.stringify(name)}: offload needs a plugin with a module path (register it from a plugin's setup)`);
    this.methods.add(name, fn, options, this.owner);
    return this;
  }

  /** Registered method names. */
  get methodNames(): string[] {
    return this.methods.names();
  }

  /** A part to stop at the end of shutdown, after connections closed; gets the ms left before the deadline. */
  protected onStop(fn: (msLeft: number) => Promise<void>): void {
    this.stopHooks.push(fn);
  }

  /** Adds an EventHandler; it sees every connection's events after the RPC dispatcher. */
  handler(h: EventHandler): this {
    this.handlers.push(h);
    if (h.onReadable) this.observers.push(h);
    if (h.onTick && this.state === 'listening') this.startTick(h);
    return this;
  }

  /** Runs before listen() binds; a throw makes listen() fail with nothing bound. */
  onBoot(fn: () => unknown, owner = 'application'): this {
    this.bootHooks.push({ fn, owner });
    return this;
  }

  /** Runs during graceful shutdown, after in-flight requests finish and before the remaining connections close. */
  onShutdown(fn: () => unknown, owner = 'application'): this {
    this.shutdownHooks.push({ fn, owner });
    return this;
  }

  /** Binds the transports (composition supplies them); returns where they listen. */
  protected abstract bind(): Promise<ListenInfo>;

  async listen(): Promise<ListenInfo> {
    if (this.state !== 'new') throw new Error('listen() called twice');
    for (const { fn, owner } of this.bootHooks) {
      try {
        await fn();
      } catch (e) {
        throw new ConfigError(`${owner} failed in onBoot: ${(e as Error)?.message ?? String(e)}`);
      }
    }
    let info: ListenInfo;
    try {
      info = await this.bind();
      this.state = 'listening';
    } catch (e) {
      for (const t of this.transports) t.closeAll();
      this.state = 'closed';
      this.metrics.close();
      for (const stop of this.stopHooks) await stop(0);
      throw e;
    }
    this.startIdleTick();
    for (const h of this.handlers) if (h.onTick) this.startTick(h);
    this.listenInfo = info;
    // Scripts wait for this line: it is printed even when --log-level is above info (not when silent).
    announcer(this.log).info({ ...info, transports: this.transports.map((t) => t.name), methods: this.methods.names() }, this.listeningMessage);
    return info;
  }

  /** The log line that says this reactor is serving. */
  listeningMessage = 'listening';

  /**
   * Graceful shutdown (CONTRACT.md): stop accepting, finish in-flight work, close 1001. Resolves when done.
   * `started`: when --drain-timeout began counting (the signal), if before now.
   */
  close(started = Date.now()): Promise<void> {
    if (this.closing === null) this.closing = this.shutdown(started, true);
    return this.closing;
  }

  /**
   * Graceful shutdown from `started`. With `goaway` (SIGTERM): goaway (reason shutdown), new
   * requests get SHUTTING_DOWN, each connection is closed 1001 as soon as nothing of it is in
   * flight. At the deadline, requests still running are answered TIMEOUT, then everything closes.
   */
  private async shutdown(started: number, goaway: boolean): Promise<void> {
    const drainMs = this.options.drainTimeout * 1000;
    const wasListening = this.serving;
    this.state = 'draining';
    this.stopAccepting();
    this.log.info({ connections: this.conns.size, inflight: this.dispatcher.pending }, 'shutdown: stopped accepting');
    const drained = this.dispatcher.drain();
    if (goaway) this.goaway('shutdown');
    // Keep a slice of the deadline for answering, closing and the pool.
    const margin = Math.min(500, drainMs * 0.2);
    const deadline = started + drainMs - margin;
    let done = false;
    void drained.then(() => (done = true));
    for (;;) {
      this.closeIdle();
      if (done || Date.now() >= deadline) break;
      await sleep(Math.min(5, Math.max(0, deadline - Date.now())));
    }
    if (!done) this.log.warn({ inflight: this.dispatcher.pending }, 'shutdown: drain deadline reached, answering TIMEOUT');
    else this.log.info('shutdown: in-flight requests finished');
    this.dispatcher.abortAll();
    this.flushAll();
    for (const { fn, owner } of this.shutdownHooks) {
      try {
        await fn();
      } catch (e) {
        this.log.error({ err: (e as Error)?.message ?? String(e), owner }, 'shutdown hook failed');
      }
    }
    for (const c of [...this.conns]) c.close(CloseCode.GOING_AWAY, 'server shutting down');
    // Answers already queued must reach their clients: wait for sockets to flush and end,
    // within the deadline, then let the last close frames leave before force-closing.
    const hardStop = started + drainMs - 20;
    const lingering = (): number => this.transports.reduce((n, t) => n + t.lingering(), 0);
    while (lingering() > 0 && Date.now() < hardStop) await sleep(10);
    if (lingering() > 0) this.log.warn({ sockets: lingering() }, 'shutdown: sockets still flushing at the deadline, closing them');
    if (wasListening) await sleep(Math.max(0, Math.min(50, hardStop - Date.now())));
    for (const t of this.transports) t.closeAll();
    // The worker pool: idle workers exit at once; one still busy (its request already answered) is terminated.
    for (const stop of this.stopHooks) await stop(Math.max(0, Math.min(250, started + drainMs - 20 - Date.now())));
    for (const t of this.tickTimers) clearTimeout(t);
    this.tickTimers = [];
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.dispatcher.close();
    this.metrics.close();
    this.state = 'closed';
    this.log.info({ ms: Date.now() - started }, 'shutdown: complete');
  }

  /** Shutdown: a connection with nothing in flight has nothing more to receive (queued answers leave before the 1001). */
  private closeIdle(): void {
    for (const c of [...this.conns]) if (c.inflight === 0) c.close(CloseCode.GOING_AWAY, 'server shutting down');
  }

  // ---- called by transports (TransportHost) ----

  admit(remote: string): string | null {
    const o = this.options;
    // Sockets still flushing after their close count too: limits cap what is really held.
    if (o.maxConnections > 0 && this.transports.reduce((n, t) => n + t.lingering(), 0) >= o.maxConnections) return 'too many connections';
    if (o.maxConnectionsPerIp > 0 && (this.perIp.get(remote) ?? 0) >= o.maxConnectionsPerIp) return 'too many connections from this address';
    return null;
  }

  connectionOpened(conn: BaseConnection): void {
    this.conns.add(conn);
    if (this.options.maxConnectionsPerIp > 0) this.perIp.set(conn.remoteAddress, (this.perIp.get(conn.remoteAddress) ?? 0) + 1);
    this.metrics.connections[conn.transport].inc();
    this.metrics.connectionsOpened.labels({ transport: conn.transport }).inc();
    // Guarded: the argument object would be garbage on every connect at the default level (heap growth in bursts).
    if (this.log.isLevelEnabled('debug')) this.log.debug({ conn: conn.id, transport: conn.transport, remote: conn.remoteAddress }, 'connection open');
    // Accepted just before the listener closed (or upgraded from an older keep-alive socket): it still hears why.
    if (this.state === 'retiring') conn.write(encodeNotification('ringloop.goaway', [{ reason: 'restart' }]));
    else if (this.state === 'draining') conn.write(encodeNotification('ringloop.goaway', [{ reason: 'shutdown' }]));
    for (const h of this.handlers) {
      if (h.onOpen) this.guard(h, () => h.onOpen!(conn));
    }
  }

  frame(conn: BaseConnection, bytes: Uint8Array): void {
    const held = this.held;
    if (held !== conn) {
      // Another connection's message: the held one's read is over, its answers leave now.
      if (held !== null && held.dirty) held.flush(true);
      this.held = conn.coalesce ? conn : null;
    }
    conn.lastSeen = this.clock;
    conn.pinged = false;
    const m = this.metrics;
    m.framesIn.inc();
    m.bytesIn.inc(bytes.length);
    const d = this.dispatcher;
    // Sync answers share their frame's duration; the clock is read on every 8th frame only (it costs
    // ~2.5% of a small frame); the others reuse that figure. Calls that need the time read it lazily.
    const sample = (++this.frames & 7) === 1;
    const t0 = sample ? performance.now() : FRAME_UNREAD;
    d.frameStart = t0;
    d.syncAnswered = 0;
    this.reading = conn;
    let err;
    try {
      err = decodeFrame(bytes, this);
    } finally {
      this.reading = null;
      d.frameStart = NO_FRAME;
    }
    if (d.syncAnswered > 0) {
      if (sample) this.syncFrameSeconds = (performance.now() - t0) / 1000;
      m.duration.observeMany(this.syncFrameSeconds, d.syncAnswered);
    }
    // TCP: one write per read, inside the native callback. WebSocket: held (see BaseConnection.coalesce).
    if (conn.dirty && !conn.coalesce) conn.flush(false);
    if (err !== null) {
      m.protocolErrors.labels({ code: String(err.close) }).inc();
      this.log.debug({ conn: conn.id, code: err.close, reason: err.reason }, 'closing connection: bad input');
      conn.close(err.close, err.reason);
    }
  }

  touched(conn: BaseConnection): void {
    conn.lastSeen = this.clock;
    conn.pinged = false;
  }

  writable(conn: BaseConnection): void {
    for (const h of this.handlers) {
      if (h.onWritable) this.guard(h, () => h.onWritable!(conn));
    }
  }

  connectionClosed(conn: BaseConnection, code: number, reason: string): void {
    if (!conn.open) return;
    conn.open = false;
    this.conns.delete(conn);
    this.metrics.connections[conn.transport].dec();
    this.metrics.closes.labels({ transport: conn.transport, code: String(code) }).inc();
    if (this.log.isLevelEnabled('debug')) this.log.debug({ conn: conn.id, code, reason }, 'connection closed');
    for (const h of this.handlers) {
      if (h.onClose) this.guard(h, () => h.onClose!(conn, code, reason));
    }
  }

  released(conn: BaseConnection): void {
    if (this.options.maxConnectionsPerIp > 0) {
      const n = (this.perIp.get(conn.remoteAddress) ?? 1) - 1;
      if (n > 0) this.perIp.set(conn.remoteAddress, n);
      else this.perIp.delete(conn.remoteAddress);
    }
  }

  scheduleFlush(conn: BaseConnection): void {
    this.dirty.push(conn);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the timers/IO phase: every answer produced this turn leaves in one write per connection.
      setImmediate(this.flushAll);
    }
  }

  sent(conn: BaseConnection, bytes: number): void {
    const m = this.metrics.sentBy[conn.transport];
    m.writes.inc();
    m.bytes.inc(bytes);
  }

  unsent(conn: BaseConnection, bytes: number): void {
    this.metrics.sentBy[conn.transport].unsent.inc(bytes);
  }

  /** Prometheus text for GET /metrics: this reactor's figures (a server of several reactors gathers them all). */
  renderMetrics(): string | Promise<string> {
    return this.metrics.render();
  }

  // ---- FrameSink: called by the codec for each message of the frame being read ----

  request(msgid: number, method: string, params: unknown[]): void {
    const conn = this.reading!;
    if (conn.authPending) return this.gate!.request(conn, msgid, method, params);
    this.dispatcher.request(conn, msgid, method, params);
    if (this.observers.length > 0) this.observe(conn, { kind: 'request', msgid, method, params });
  }

  notification(method: string, params: unknown[]): void {
    const conn = this.reading!;
    if (conn.authPending) return void this.metrics.notificationsDropped.inc();
    this.dispatcher.notification(conn, method, params);
    if (this.observers.length > 0) this.observe(conn, { kind: 'notification', msgid: -1, method, params });
  }

  /** A request of the frame being read was answered synchronously (its duration is observed with the frame's). */
  answeredInFrame(): void {
    this.dispatcher.syncAnswered++;
  }

  invalid(msgid: number, reason: string): void {
    this.metrics.countError(ErrorCode.INVALID_REQUEST);
    this.dispatcher.syncAnswered++;
    this.reading!.write(encodeError(msgid, new RpcError(ErrorCode.INVALID_REQUEST, reason).toBody()));
  }

  private observe(conn: BaseConnection, msg: RpcMessage): void {
    for (const h of this.observers) this.guard(h, () => h.onReadable!(conn, msg));
  }

  /** A throwing handler is logged and skipped; it never takes the reactor or other connections down. */
  private guard(h: EventHandler, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: (e as Error)?.message ?? String(e), handler: h.constructor?.name }, 'event handler threw');
    }
  }

  private startIdleTick(): void {
    const idleMs = this.options.idleTimeout * 1000;
    const period = idleMs > 0 ? Math.min(1000, Math.max(50, idleMs / 4)) : 1000;
    const tick = (): void => {
      const now = (this.clock = Date.now());
      if (idleMs > 0 && this.serving) {
        for (const c of this.conns) {
          const silent = now - c.lastSeen;
          if (silent >= idleMs) {
            c.close(CloseCode.IDLE_TIMEOUT, 'idle timeout');
          } else if (silent >= idleMs / 2 && !c.pinged) {
            // A live peer answers with a pong, which counts as traffic (transports without pings just idle out).
            c.pinged = true;
            c.ping();
          }
        }
      }
      if (this.serving) this.idleTimer = setTimeout(tick, period).unref();
    };
    this.idleTimer = setTimeout(tick, period).unref();
  }

  private startTick(h: EventHandler): void {
    const slot = this.tickTimers.length;
    const run = (): void => {
      let next: number | void = undefined;
      try {
        next = h.onTick!();
      } catch (e) {
        this.log.error({ err: (e as Error)?.message }, 'onTick threw; ticking stopped for this handler');
      }
      if (typeof next === 'number' && next > 0 && this.serving) {
        const t = setTimeout(run, next);
        t.unref();
        this.tickTimers[slot] = t;
      }
    };
    const t = setTimeout(run, 0);
    t.unref();
    this.tickTimers.push(t);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
