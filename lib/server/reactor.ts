/**
 * The composition root of one reactor: the core (lib/reactor/reactor.ts)
 * with its parts around it — WebSocket and TCP transports, TLS, plugins,
 * authentication, the worker pool and CPU placement. `createReactor` is the
 * embedding API; `ringloop serve` runs one of these per reactor process
 * (lib/server/supervisor.ts).
 */
import type { Logger } from 'pino';
import { ConfigError, CloseCode, ErrorCode } from '../errors';
import { encodeError, encodeResult } from '../protocol/codec';
import { ReactorCore, type Gate, type ListenInfo, type ReactorCoreOptions } from '../reactor/reactor';
import type { BaseConnection } from '../reactor/connection';
import type { MethodFn, MethodOptions } from '../reactor/types';
import { applyReactorLayout, planLayout, type CpuLayout } from '../reactor/affinity';
import { WebSocketTransport } from '../transports/websocket';
import { TcpTransport } from '../transports/tcp';
import type { Transport, TransportHost } from '../transports/transport';
import { watchDescriptors } from '../reactor/descriptors';
import { loadTls, type TlsMaterial } from '../transports/tls';
import type { Plugin } from '../plugins/plugin';
import { PluginScope, type PluginHost } from '../plugins/scope';
import { validatePluginOptions } from '../plugins/options';
import { orderPlugins } from '../plugins/order';
import { runAuthenticator, type Authenticator } from '../auth/authenticator';
import { tokenFileAuthenticator } from '../auth/token-file';
import { WorkerPool, type PoolOptions, type PoolPluginRef } from '../pool/pool';
import { PubSub } from '../pubsub/pubsub';

export type { ListenInfo } from '../reactor/reactor';

/** Worker-pool tuning for embedders and tests (`--workers` sets the size). */
export type ReactorPoolOptions = Pick<PoolOptions, 'maxQueue' | 'maxQueueBytes' | 'ringBytes' | 'oversizeBytes' | 'maxTasksPerWorker' | 'spinUs' | 'sleepMode' | 'pollUs' | 'startTimeoutMs' | 'workerNice' | 'stuckMs'>;

export interface CreateReactorOptions extends ReactorCoreOptions {
  /** A pino logger; by default JSON lines on stdout at `logLevel`. */
  logger?: Logger;
  logLevel?: string;
  /** Worker-pool tuning (queue bound, ring size...); see lib/pool/pool.ts. */
  pool?: ReactorPoolOptions;
  /** Share the ports with other reactor processes (SO_REUSEPORT); default: hold them alone. */
  sharedPort?: boolean;
}

export class Reactor extends ReactorCore implements TransportHost, PluginHost {
  authenticator: Authenticator | null = null;
  tls: TlsMaterial | null = null;
  private readonly plugins = new Map<string, Plugin<unknown>>();
  /** Validated options of each plugin, for workers that load it (offloaded methods). */
  private readonly pluginOptions = new Map<string, unknown>();
  /** Offloaded method -> the plugin that registered it. */
  private readonly offloadedBy = new Map<string, Plugin<unknown>>();
  private readonly poolTuning: ReactorPoolOptions;
  /** --reactor-cpu: where the reactor and the pool workers run. */
  private cpuLayout: CpuLayout | null = null;
  private workerPool: WorkerPool | null = null;
  /** Join the ports' SO_REUSEPORT group instead of holding them alone (reactor processes of `ringloop serve`). */
  private readonly sharedPort: boolean;
  /** Where /metrics gets the whole server's figures when this reactor is one of several (set by the reactor process). */
  gatherMetrics: (() => Promise<string>) | null = null;
  /** Topics (lib/pubsub): `reactor.pubsub.publish(topic, data)`, `.subscribe(conn, topic)`, `.authorize(fn)`. */
  readonly pubsub: PubSub;

  constructor(opts: CreateReactorOptions = {}) {
    const { pool, sharedPort, ...rest } = opts;
    super(rest);
    this.sharedPort = sharedPort ?? false;
    this.poolTuning = { ...pool };
    this.pubsub = new PubSub(this);
    this.onStop(async (msLeft) => {
      if (this.workerPool !== null) await this.workerPool.close(msLeft);
    });
  }

  addMethod(name: string, fn: MethodFn, options: MethodOptions, owner: string): void {
    if (options.offload) this.checkOffload(name, owner);
    this.methods.add(name, fn, options, owner);
  }

  /** The worker pool running offloaded methods (null until listen(), or when nothing is offloaded). */
  get pool(): WorkerPool | null {
    return this.workerPool;
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

  /**
   * Requires clients to authenticate: WebSocket clients in the upgrade (401/403
   * otherwise, no WebSocket is created), TCP clients with a first `auth [token]`
   * request. The returned identity is `conn.identity`. `--auth-token-file` installs one.
   */
  authenticate(fn: Authenticator): this {
    if (this.state !== 'new') throw new ConfigError('authenticate() must be called before listen()');
    if (this.authenticator !== null) throw new ConfigError('an authenticator is already set (--auth-token-file or authenticate())');
    this.authenticator = fn;
    this.gate = new TcpAuthGate(this, fn);
    return this;
  }

  authFailed(transport: 'ws' | 'tcp', remote: string, reason: string): void {
    this.metrics.authFailures.labels({ transport }).inc();
    this.log.info({ transport, remote, reason }, 'authentication failed');
  }

  override renderMetrics(): string | Promise<string> {
    return this.gatherMetrics !== null ? this.gatherMetrics() : super.renderMetrics();
  }

  protected async bind(): Promise<ListenInfo> {
    if (this.options.authTokenFile !== null) this.authenticate(tokenFileAuthenticator(this.options.authTokenFile).authenticate);
    this.tls = loadTls(this.options);
    if (this.options.reactorCpu !== null) {
      this.cpuLayout = planLayout(this.options.reactorCpu);
      applyReactorLayout(this.cpuLayout);
      this.log.info({ reactorCpu: this.cpuLayout.reactor, workerCpus: this.cpuLayout.others }, 'reactor thread pinned');
    }
    await this.startPool();
    const ws = new WebSocketTransport(this);
    this.pubsub.attach(ws);
    const bound: Transport[] = [ws];
    this.transports = bound;
    const port = await ws.listen(this.sharedPort);
    let tcpPort: number | null = null;
    if (this.options.tcpPort !== null) {
      const tcp = new TcpTransport(this);
      bound.push(tcp);
      tcpPort = await tcp.listen();
    }
    // Raises RLIMIT_NOFILE, caps --max-connections, closes the listen sockets while descriptors run out.
    watchDescriptors(this, bound, () => this.state === 'listening');
    return { host: this.options.host, port, tcpPort };
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
}

/** TCP before authentication: only `auth [token]` is served; a failure closes the connection. */
class TcpAuthGate implements Gate {
  constructor(
    private readonly r: Reactor,
    private readonly authenticator: Authenticator,
  ) {}

  request(conn: BaseConnection, msgid: number, method: string, params: unknown[]): void {
    const r = this.r;
    r.answeredInFrame();
    if (method !== 'auth' || conn.authStarted) {
      r.metrics.countError(ErrorCode.INVALID_REQUEST);
      const message = method === 'auth' ? 'authentication already in progress' : 'authenticate first: send auth [token]';
      conn.write(encodeError(msgid, { code: ErrorCode.INVALID_REQUEST, message }));
      return;
    }
    conn.authStarted = true;
    const token = typeof params[0] === 'string' ? params[0] : null;
    const req = { transport: 'tcp' as const, headers: {}, url: '', query: '', remoteAddress: conn.remoteAddress, token };
    runAuthenticator(this.authenticator, req, (d) => {
      if (!conn.open) return;
      if (d.ok) {
        conn.authPending = false;
        conn.identity = d.identity;
        r.metrics.outcome.ok.inc();
        conn.write(encodeResult(msgid, true));
        return;
      }
      r.authFailed('tcp', conn.remoteAddress, d.reason);
      r.metrics.countError(ErrorCode.INVALID_REQUEST);
      conn.write(encodeError(msgid, { code: ErrorCode.INVALID_REQUEST, message: `authentication failed: ${d.reason}` }));
      conn.flush(r.reading !== conn);
      conn.close(CloseCode.POLICY_VIOLATION, 'authentication failed');
    });
  }
}

/** Creates a reactor. Register methods, handlers and plugins, then `listen()`; `close()` drains gracefully. */
export function createReactor(options: CreateReactorOptions = {}): Reactor {
  return new Reactor(options);
}
