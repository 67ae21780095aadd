/**
 * The reactor: one thread that owns the connection table, turns transport
 * events into EventHandler calls, batches each connection's output per
 * event-loop turn, and runs the idle timeout and graceful shutdown.
 */
import pino, { type Logger } from 'pino';
import { ConfigError, CloseCode, ErrorCode, RpcError } from '../errors';
import { decodeFrame, encodeError, encodeNotification, encodeResult, type FrameSink } from '../protocol/codec';
import { Dispatcher, FRAME_UNREAD, NO_FRAME } from '../rpc/dispatcher';
import { applyReactorLayout, planLayout, type CpuLayout } from './affinity';
import { MethodRegistry } from '../rpc/methods';
import { RpcMetrics } from '../metrics/rpc-metrics';
import { WebSocketTransport, WsConnection } from '../transports/websocket';
import { TcpTransport } from '../transports/tcp';
import type { Transport, TransportHost } from '../transports/transport';
import type { BaseConnection } from './connection';
import { resolveOptions, type ReactorOptions } from './options';
import type { EventHandler, MethodFn, MethodOptions, RpcMessage } from './types';
import type { Plugin } from '../plugins/plugin';
import { PluginScope, type PluginHost } from '../plugins/scope';
import { validatePluginOptions } from '../plugins/options';
import { orderPlugins } from '../plugins/order';
import { runAuthenticator, type Authenticator } from '../auth/authenticator';
import { tokenFileAuthenticator } from '../auth/token-file';
import { loadTls, type TlsMaterial } from '../transports/tls';
import { WorkerPool, type PoolOptions, type PoolPluginRef } from '../pool/pool';

/** Worker-pool tuning for embedders and tests (`--workers` sets the size). */
export type ReactorPoolOptions = Pick<PoolOptions, 'maxQueue' | 'maxQueueBytes' | 'ringBytes' | 'oversizeBytes' | 'maxTasksPerWorker' | 'spinUs' | 'sleepMode' | 'pollUs' | 'startTimeoutMs' | 'workerNice' | 'stuckMs'>;

export interface CreateReactorOptions extends Partial<ReactorOptions> {
  /** A pino logger; by default JSON lines on stdout at `logLevel`. */
  logger?: Logger;
  logLevel?: string;
  /** Worker-pool tuning (queue bound, ring size...); see lib/pool/pool.ts. */
  pool?: ReactorPoolOptions;
}

export interface ListenInfo {
  host: string;
  port: number;
  tcpPort: number | null;
}

/**
 * listening → retiring (hot restart: an older generation, not accepting, serving its clients until they
 * leave) → draining (graceful shutdown, or a retiring generation's deadline) → closed.
 */
type State = 'new' | 'listening' | 'retiring' | 'draining' | 'closed';

/** Why connections are told to go away (CONTRACT.md: `ringloop.goaway`). */
export type GoawayReason = 'shutdown' | 'restart';

export class Reactor implements TransportHost, FrameSink, PluginHost {
  readonly options: ReactorOptions;
  readonly log: Logger;
  readonly metrics: RpcMetrics;
  readonly maxBackpressure: number;
  private readonly methods = new MethodRegistry();
  private readonly dispatcher: Dispatcher;
  private readonly handlers: EventHandler[] = [];
  /** Handlers besides the dispatcher that want onReadable; empty on the fast path. */
  private observers: EventHandler[] = [];
  private readonly conns = new Set<BaseConnection>();
  /** Open connections per client address; kept only when --max-connections-per-ip is set. */
  private readonly perIp = new Map<string, number>();
  authenticator: Authenticator | null = null;
  tls: TlsMaterial | null = null;
  private transports: Transport[] = [];
  private readonly shutdownHooks: Array<{ fn: () => unknown; owner: string }> = [];
  private readonly bootHooks: Array<{ fn: () => unknown; owner: string }> = [];
  private readonly plugins = new Map<string, Plugin<unknown>>();
  /** Validated options of each plugin, for workers that load it (offloaded methods). */
  private readonly pluginOptions = new Map<string, unknown>();
  /** Offloaded method -> the plugin that registered it. */
  private readonly offloadedBy = new Map<string, Plugin<unknown>>();
  private readonly poolTuning: ReactorPoolOptions;
  /** --reactor-cpu: where the reactor and the pool workers run. */
  private cpuLayout: CpuLayout | null = null;
  private workerPool: WorkerPool | null = null;
  private state: State = 'new';
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

  constructor(opts: CreateReactorOptions = {}) {
    const { logger, logLevel, pool, ...rest } = opts;
    this.options = resolveOptions(rest);
    this.poolTuning = { ...pool };
    this.maxBackpressure = this.options.maxBackpressure;
    this.log = logger ?? pino({ level: logLevel ?? 'info', base: { pid: process.pid } });
    this.metrics = new RpcMetrics(() => this.dispatcher.pending);
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

  addMethod(name: string, fn: MethodFn, options: MethodOptions, owner: string): void {
    if (options.offload) this.checkOffload(name, owner);
    this.methods.add(name, fn, options, owner);
  }

  /** The worker pool running offloaded methods (null until listen(), or when nothing is offloaded). */
  get pool(): WorkerPool | null {
    return this.workerPool;
  }

  private checkOffload(name: string, owner: string): void {
    if (this.state !== 'new') throw new ConfigError(`${owner}: method ${JSON.stringify(name)}: offloaded methods must be registered before listen()`);
    const plugin = owner.startsWith('plugin ') ? this.plugins.get(owner.slice('plugin '.length)) : undefined;
    if (plugin === undefined) throw new ConfigError(`${owner}: method ${JSON.stringify(name)}: offload needs a plugin with a module path`);
    if (typeof plugin.module !== 'string' || plugin.module.length === 0) {
      throw new ConfigError(`plugin ${plugin.name}: method ${JSON.stringify(name)} is offloaded, so the plugin needs \`module\` (its module path, e.g. __filename) for worker threads to load it`);
    }
    this.offloadedBy.set(name, plugin);
  }

  /** Starts the worker pool when some method is offloaded; a plugin that fails to load in a worker fails start-up. */
  private async startPool(): Promise<void> {
    const entries = this.methods.offloaded();
    if (entries.length === 0) return;
    const refs = new Map<string, PoolPluginRef>();
    for (const e of entries) {
      const p = this.offloadedBy.get(e.name)!;
      if (!refs.has(p.name)) refs.set(p.name, { module: p.module!, name: p.name, options: this.pluginOptions.get(p.name) });
    }
    let pool: WorkerPool;
    try {
      pool = new WorkerPool({
        maxQueue: this.options.poolQueue,
        workerNice: this.options.workerNice,
        maxQueueBytes: this.options.poolQueueBytes,
        ...this.poolTuning, // createReactor({ pool }) tuning wins
        size: this.options.workers,
        cpus: this.cpuLayout?.others ?? [],
        plugins: [...refs.values()],
        methods: entries.map((e) => e.name),
        log: this.log,
        options: this.options,
        observer: this.metrics.poolObserver(this.options.workers),
      });
    } catch (e) {
      throw new ConfigError(`worker pool: ${(e as Error).message}`);
    }
    try {
      await pool.start();
    } catch (e) {
      await pool.close(0);
      throw new ConfigError(`worker pool failed to start: ${(e as Error).message}`);
    }
    entries.forEach((e, i) => (e.poolIndex = i));
    this.workerPool = pool;
    this.dispatcher.pool = pool;
  }

  /** Adds an EventHandler; it sees every connection's events after the RPC dispatcher. */
  handler(h: EventHandler): this {
    this.handlers.push(h);
    if (h.onReadable) this.observers.push(h);
    if (h.onTick && this.state === 'listening') this.startTick(h);
    return this;
  }

  /**
   * Validates a plugin's options and runs its setup with a PluginScope. Its
   * dependencies must be registered already (registerAll orders them for you).
   */
  async register<O>(plugin: Plugin<O>, options?: unknown): Promise<this> {
    const p = plugin as Plugin<unknown>;
    if (this.state !== 'new') throw new ConfigError(`plugin ${p.name}: register plugins before listen()`);
    if (typeof p.name !== 'string' || !/^[A-Za-z0-9_-]+$/.test(p.name)) {
      throw new ConfigError(`plugin name ${JSON.stringify(p.name)} must be letters, digits, _ or -`);
    }
    if (this.plugins.has(p.name)) throw new ConfigError(`plugin ${p.name} is registered twice`);
    for (const dep of p.dependencies ?? []) {
      if (!this.plugins.has(dep)) throw new ConfigError(`plugin ${p.name} depends on plugin ${dep}, which is not registered before it`);
    }
    const opts = validatePluginOptions(p, options);
    this.plugins.set(p.name, p);
    this.pluginOptions.set(p.name, opts);
    try {
      await p.setup(new PluginScope(this, p), opts);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError(`plugin ${p.name} failed in setup: ${(e as Error)?.message ?? String(e)}`);
    }
    return this;
  }

  /** Registers several plugins in dependency order. */
  async registerAll(list: ReadonlyArray<{ plugin: Plugin<unknown>; options?: unknown }>): Promise<this> {
    for (const { plugin, options } of orderPlugins(list)) await this.register(plugin, options);
    return this;
  }

  /** Plugins registered so far, by name. */
  get pluginNames(): string[] {
    return [...this.plugins.keys()];
  }

  /** Runs before listen() binds; a throw makes listen() fail with nothing bound. */
  onBoot(fn: () => unknown, owner = 'application'): this {
    this.bootHooks.push({ fn, owner });
    return this;
  }

  /**
   * Requires clients to authenticate: WebSocket clients in the upgrade (401/403
   * otherwise, no WebSocket is created), TCP clients with a first `auth [token]`
   * request. The returned identity is `conn.identity`. `--auth-token-file` installs one.
   */
  authenticate(fn: Authenticator): this {
    if (this.state !== 'new') throw new ConfigError('authenticate() must be called before listen()');
    if (this.authenticator !== null) throw new ConfigError('an authenticator is already set (--auth-token-file or authenticate())');
    this.authenticator = fn;
    return this;
  }

  /** Runs during graceful shutdown, after in-flight requests finish and before the remaining connections close. */
  onShutdown(fn: () => unknown, owner = 'application'): this {
    this.shutdownHooks.push({ fn, owner });
    return this;
  }

  async listen(): Promise<ListenInfo> {
    if (this.state !== 'new') throw new Error('listen() called twice');
    for (const { fn, owner } of this.bootHooks) {
      try {
        await fn();
      } catch (e) {
        throw new ConfigError(`${owner} failed in onBoot: ${(e as Error)?.message ?? String(e)}`);
      }
    }
    if (this.options.authTokenFile !== null) this.authenticate(tokenFileAuthenticator(this.options.authTokenFile).authenticate);
    this.tls = loadTls(this.options);
    if (this.options.reactorCpu !== null) {
      this.cpuLayout = planLayout(this.options.reactorCpu);
      applyReactorLayout(this.cpuLayout);
      this.log.info({ reactorCpu: this.cpuLayout.reactor, workerCpus: this.cpuLayout.others }, 'reactor thread pinned');
    }
    await this.startPool();
    this.state = 'listening';
    const ws = new WebSocketTransport(this);
    this.transports = [ws];
    let port: number;
    let tcpPort: number | null = null;
    try {
      port = await ws.listen();
      if (this.options.tcpPort !== null) {
        const tcp = new TcpTransport(this);
        this.transports.push(tcp);
        tcpPort = await tcp.listen();
      }
    } catch (e) {
      for (const t of this.transports) t.closeAll();
      this.state = 'closed';
      this.metrics.close();
      if (this.workerPool !== null) await this.workerPool.close(0);
      throw e;
    }
    this.startIdleTick();
    for (const h of this.handlers) if (h.onTick) this.startTick(h);
    const info: ListenInfo = { host: this.options.host, port, tcpPort };
    this.listenInfo = info;
    // Scripts wait for this line: it is printed even when --log-level is above info (not when silent).
    const announce = this.log.level === 'silent' || this.log.isLevelEnabled('info') ? this.log : this.log.child({}, { level: 'info' });
    announce.info({ ...info, transports: this.transports.map((t) => t.name), methods: this.methods.names() }, 'listening');
    return info;
  }

  /** Graceful shutdown (CONTRACT.md): stop accepting, finish in-flight work, close 1001. Resolves when done. */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.shutdown(Date.now(), true);
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
    while (lingering() > 0 && Date.now() < hardStop) await new Promise((r) => setTimeout(r, 10));
    if (lingering() > 0) this.log.warn({ sockets: lingering() }, 'shutdown: sockets still flushing at the deadline, closing them');
    if (wasListening) await new Promise((r) => setTimeout(r, Math.max(0, Math.min(50, hardStop - Date.now()))));
    for (const t of this.transports) t.closeAll();
    // The worker pool: idle workers exit at once; one still busy (its request already answered) is terminated.
    if (this.workerPool !== null) await this.workerPool.close(Math.max(0, Math.min(250, started + drainMs - 20 - Date.now())));
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

  // ---- TransportHost: called by transports ----

  admit(remote: string): string | null {
    const o = this.options;
    // Sockets still flushing after their close count too: limits cap what is really held.
    if (o.maxConnections > 0 && this.transports.reduce((n, t) => n + t.lingering(), 0) >= o.maxConnections) return 'too many connections';
    if (o.maxConnectionsPerIp > 0 && (this.perIp.get(remote) ?? 0) >= o.maxConnectionsPerIp) return 'too many connections from this address';
    return null;
  }

  authFailed(transport: 'ws' | 'tcp', remote: string, reason: string): void {
    this.metrics.authFailures.labels({ transport }).inc();
    this.log.info({ transport, remote, reason }, 'authentication failed');
  }

  connectionOpened(conn: BaseConnection): void {
    this.conns.add(conn);
    if (this.options.maxConnectionsPerIp > 0) this.perIp.set(conn.remoteAddress, (this.perIp.get(conn.remoteAddress) ?? 0) + 1);
    this.metrics.connections[conn.transport].inc();
    this.metrics.connectionsOpened.labels({ transport: conn.transport }).inc();
    this.log.debug({ conn: conn.id, transport: conn.transport, remote: conn.remoteAddress }, 'connection open');
    // Accepted just before the listener closed (or upgraded from an older keep-alive socket): it still hears why.
    if (this.state === 'retiring') conn.write(encodeNotification('ringloop.goaway', [{ reason: 'restart' }]));
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
    this.log.debug({ conn: conn.id, code, reason }, 'connection closed');
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

  renderMetrics(): string {
    return this.metrics.render();
  }

  // ---- FrameSink: called by the codec for each message of the frame being read ----

  request(msgid: number, method: string, params: unknown[]): void {
    const conn = this.reading!;
    if (conn.authPending) return this.tcpAuth(conn, msgid, method, params);
    this.dispatcher.request(conn, msgid, method, params);
    if (this.observers.length > 0) this.observe(conn, { kind: 'request', msgid, method, params });
  }

  notification(method: string, params: unknown[]): void {
    const conn = this.reading!;
    if (conn.authPending) return void this.metrics.notificationsDropped.inc();
    this.dispatcher.notification(conn, method, params);
    if (this.observers.length > 0) this.observe(conn, { kind: 'notification', msgid: -1, method, params });
  }

  invalid(msgid: number, reason: string): void {
    this.metrics.countError(ErrorCode.INVALID_REQUEST);
    this.dispatcher.syncAnswered++;
    this.reading!.write(encodeError(msgid, new RpcError(ErrorCode.INVALID_REQUEST, reason).toBody()));
  }

  /** TCP before authentication: only `auth [token]` is served; a failure closes the connection. */
  private tcpAuth(conn: BaseConnection, msgid: number, method: string, params: unknown[]): void {
    this.dispatcher.syncAnswered++;
    if (method !== 'auth' || conn.authStarted) {
      this.metrics.countError(ErrorCode.INVALID_REQUEST);
      const message = method === 'auth' ? 'authentication already in progress' : 'authenticate first: send auth [token]';
      conn.write(encodeError(msgid, { code: ErrorCode.INVALID_REQUEST, message }));
      return;
    }
    conn.authStarted = true;
    const token = typeof params[0] === 'string' ? params[0] : null;
    const req = { transport: 'tcp' as const, headers: {}, url: '', query: '', remoteAddress: conn.remoteAddress, token };
    runAuthenticator(this.authenticator!, req, (d) => {
      if (!conn.open) return;
      if (d.ok) {
        conn.authPending = false;
        conn.identity = d.identity;
        this.metrics.outcome.ok.inc();
        conn.write(encodeResult(msgid, true));
        return;
      }
      this.authFailed('tcp', conn.remoteAddress, d.reason);
      this.metrics.countError(ErrorCode.INVALID_REQUEST);
      conn.write(encodeError(msgid, { code: ErrorCode.INVALID_REQUEST, message: `authentication failed: ${d.reason}` }));
      conn.flush(this.reading !== conn);
      conn.close(CloseCode.POLICY_VIOLATION, 'authentication failed');
    });
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
          } else if (silent >= idleMs / 2 && !c.pinged && c instanceof WsConnection) {
            // A live peer answers with a pong, which counts as traffic.
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

/** Creates a reactor. Register methods, handlers and plugins, then `listen()`; `close()` drains gracefully. */
export function createReactor(options: CreateReactorOptions = {}): Reactor {
  return new Reactor(options);
}
