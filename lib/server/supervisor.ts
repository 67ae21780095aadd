/**
 * `ringloop serve`: the one process to signal. It forks `--reactors`
 * reactor processes (node:cluster) that serve the same ports — WebSocket
 * through SO_REUSEPORT (each uWS app listens itself, the kernel spreads
 * connections), TCP through the cluster primary's socket, shared with every reactor (each accepts from it)
 * — and never serves a request itself.
 *
 * - A reactor that dies outside shutdown is replaced at once (back-off if it
 *   keeps dying), logged and counted; the others keep serving.
 * - SIGHUP: a new generation from the code, plugins and --config on disk;
 *   once all of it listens, the old one stops accepting, then retires
 *   (goaway, drain). A failed start leaves the old one untouched.
 * - SIGTERM/SIGINT: every reactor shuts down gracefully; exit 0.
 * - /metrics on any reactor: the supervisor gathers every reactor's figures
 *   and sums them, with those of reactors gone before (never backwards).
 * Processes, not threads: a native abort takes one reactor, not the server
 * (native-notes/reactors.md).
 */
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../errors';
import { parseServeArgs, type ServeArgs } from '../cli/args';
import { resolveOptions, type ReactorOptions } from '../reactor/options';
import { MetricsText } from '../metrics/merge';
import { ReactorHandle } from './handle';
import { REACTOR_ENV, type FromReactor, type ReactorSpec } from './ipc';
import { RelayDirectory } from '../pubsub/cluster';
import { reactorExecArgv } from './heap-flags';
import { announcer } from '../reactor/log';

/** How long a reactor may take to load its plugins and start its pool. */
const LOAD_MS = 30_000;
const LISTEN_MS = 10_000;
/** Per-reactor scrape deadline: a stuck reactor does not stall /metrics. */
const SNAPSHOT_MS = 500;

interface Ports {
  port: number;
  tcpPort: number | null;
}

/** Reactor i's share of `workers` threads (each gets at least one). */
export function workerShare(workers: number, reactors: number, i: number): number {
  return Math.max(1, Math.floor(workers / reactors) + (i < workers % reactors ? 1 : 0));
}

/** Binds host:port alone for a moment: fails when anything (a forgotten instance) holds it; port 0 picks a free one. */
function probePort(host: string, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) => reject(new ConfigError(`cannot listen on ${what}${host}:${port} (${e.code === 'EADDRINUSE' ? 'address in use' : e.code ?? e.message})`)));
    s.listen({ host, port, exclusive: true }, () => {
      const bound = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}

export class Supervisor {
  private generation = 0;
  private current: ReactorHandle[] = [];
  private currentOptions: ReactorOptions;
  private readonly live = new Map<number, ReactorHandle>();
  /** Counters of reactors that are gone. */
  private readonly retired = new MetricsText();
  private ports: Ports | null = null;
  /** Method names of the current generation (for the listening line). */
  private methods: string[] = [];
  private restarts = 0;
  private reloads = { ok: 0, failed: 0 };
  private reloading = false;
  private reloadQueued = false;
  private stopping = false;
  private snapshotId = 1;
  private readonly snapshots = new Map<number, (text: string | null) => void>();
  /** Pub/sub: where each live reactor's relay listens (lib/pubsub/cluster.ts). */
  private readonly relays = new RelayDirectory((peers) => {
    for (const h of this.live.values()) h.send({ t: 'peers', peers });
  });
  /** Recent deaths per reactor index, for the restart back-off. */
  private readonly deaths = new Map<number, number[]>();

  constructor(
    /** The `serve` arguments as given: a reload parses them again (the --config file as it is now). */
    private readonly argv: string[],
    private args: ServeArgs,
    private readonly log: Logger,
  ) {
    this.currentOptions = resolveOptions(args.options);
  }

  async start(): Promise<void> {
    // The reactors accept TCP connections themselves from the shared socket. Round-robin (cluster's default)
    // has the supervisor accept and pass each socket over IPC; a reactor out of descriptors cannot take it,
    // and that connection was left open and unserved (seen at the descriptor limit, native-notes/reactors.md).
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: path.join(__dirname, 'reactor-entry.js'), args: [], execArgv: reactorExecArgv(), serialization: 'json' });
    cluster.on('message', (w: Worker, m: FromReactor) => this.message(w, m));
    cluster.on('exit', (w: Worker, code: number, signal: string) => this.exited(w, code, signal));
    const o = this.currentOptions;
    // Port 0 is resolved here, once: a socket uWS bound to port 0 admits no SO_REUSEPORT sibling (seen), and
    // TCP goes through the cluster primary's socket keyed by port, so every reactor, replacement and generation
    // must ask for the same number. A held port (a forgotten instance) fails here, before anything starts.
    const port = await probePort(o.host, o.port, '');
    const tcpPort = o.tcpPort === null ? null : await probePort(o.host, o.tcpPort, 'tcp ');
    this.current = await this.startGeneration(this.args, o, { port, tcpPort });
    // Scripts wait for this line: it is printed even when --log-level is above info (not when silent).
    announcer(this.log).info(
      { host: o.host, port: this.ports!.port, tcpPort: this.ports!.tcpPort, reactors: this.current.length, workers: o.workers, transports: o.tcpPort === null ? ['ws'] : ['ws', 'tcp'], methods: this.methods },
      'listening',
    );
  }

  /** Forks one generation: all load, then all listen (on ports resolved at start); any failure stops all of it and throws. */
  private async startGeneration(args: ServeArgs, o: ReactorOptions, ports: Ports): Promise<ReactorHandle[]> {
    const gen = ++this.generation;
    const handles = Array.from({ length: o.reactors }, (_, i) => this.fork(gen, i, args, o));
    try {
      await Promise.all(handles.map((h) => h.expect('loaded', LOAD_MS).then(() => void (h.state = 'loaded'))));
      this.ports ??= ports;
      const listening = await Promise.all(handles.map((h) => this.listenOne(h, this.ports!)));
      this.methods = listening[0].methods;
    } catch (e) {
      for (const h of handles) this.stopHandle(h);
      throw new ConfigError((e as Error).message);
    }
    return handles;
  }

  private async listenOne(h: ReactorHandle, p: Ports): Promise<Extract<FromReactor, { t: 'listening' }>> {
    const ready = h.expect('listening', LISTEN_MS);
    h.send({ t: 'listen', port: p.port, tcpPort: p.tcpPort });
    const m = await ready;
    h.state = 'listening';
    return m;
  }

  private fork(generation: number, index: number, args: ServeArgs, o: ReactorOptions): ReactorHandle {
    const spec: ReactorSpec = { index, generation, args, workers: workerShare(o.workers, o.reactors, index), reactors: o.reactors };
    // UV_TCP_SINGLE_ACCEPT: libuv accepts one connection per wake-up and yields, so the reactors sharing the
    // TCP socket take turns instead of the first one awake draining the whole backlog.
    const w = cluster.fork({ [REACTOR_ENV]: JSON.stringify(spec), UV_TCP_SINGLE_ACCEPT: '1' });
    const h = new ReactorHandle(generation, index, w);
    this.live.set(w.id, h);
    return h;
  }

  /** Ends a reactor that may not listen yet: gracefully when it does. */
  private stopHandle(h: ReactorHandle): void {
    if (h.state === 'dead' || h.state === 'ending') return;
    h.state = 'ending';
    h.send({ t: 'shutdown' });
    setTimeout(() => h.state !== 'dead' && h.worker.process.kill('SIGKILL'), this.currentOptions.drainTimeout * 1000 + 1000).unref();
  }

  private message(w: Worker, m: FromReactor): void {
    const h = this.live.get(w.id);
    if (h === undefined) return;
    if (m.t === 'gather') {
      void this.gather().then(
        (text) => h.send({ t: 'metrics', id: m.id, text }),
        () => h.send({ t: 'metrics', id: m.id, text: null }),
      );
      return;
    }
    if (m.t === 'relay') return this.relays.joined(w.id, m.peer);
    if (m.t === 'snapshot') {
      if (m.id === 0) h.lastCounters = new MetricsText().add(m.text).monotonic(); // farewell, just before a clean exit
      else this.snapshots.get(m.id)?.(m.text);
      return;
    }
    h.received(m);
  }

  private exited(w: Worker, code: number | null, signal: string | null): void {
    const h = this.live.get(w.id);
    if (h === undefined) return;
    this.live.delete(w.id);
    this.relays.left(w.id);
    const was = h.state;
    h.exited(code, signal);
    if (h.lastCounters !== null) this.retired.merge(h.lastCounters);
    if (this.stopping) {
      if (this.live.size === 0) this.finishShutdown();
      return;
    }
    const i = this.current.indexOf(h);
    if (was === 'listening' && i >= 0) {
      this.restarts++;
      this.log.error({ reactor: h.index, generation: h.generation, pid: h.pid, code, signal }, 'reactor died; replacing it');
      void this.replace(i);
    } else if (was === 'retiring' && code !== 0) {
      this.log.warn({ reactor: h.index, generation: h.generation, pid: h.pid, code, signal }, 'retiring reactor died');
    }
  }

  /** A current reactor died: start another in its place (at once, then with back-off if it keeps dying). */
  private async replace(i: number): Promise<void> {
    const generation = this.current[i].generation;
    const now = Date.now();
    const recent = (this.deaths.get(i) ?? []).filter((t) => now - t < 30_000);
    recent.push(now);
    this.deaths.set(i, recent);
    const backoff = recent.length <= 1 ? 0 : Math.min(5000, 250 * 2 ** (recent.length - 2));
    if (backoff > 0) await new Promise((r) => setTimeout(r, backoff));
    // A reload may have replaced the whole generation meanwhile: then there is nothing to replace.
    if (this.stopping || this.current[i]?.generation !== generation) return;
    const h = this.fork(generation, i, this.args, this.currentOptions);
    this.current[i] = h;
    try {
      await h.expect('loaded', LOAD_MS);
      await this.listenOne(h, this.ports!);
      this.log.info({ reactor: i, pid: h.pid, ms: Date.now() - now }, 'reactor replaced');
      if (!this.current.includes(h)) this.retireHandles([h]); // a reload finished while it started
    } catch (e) {
      this.log.error({ reactor: i, err: (e as Error).message }, 'replacement reactor failed to start; retrying');
      this.stopHandle(h);
      if (!this.stopping && this.current[i] === h) {
        this.restarts++;
        void this.replace(i);
      }
    }
  }

  /**
   * Resolves once every one of `handles` has stopped accepting (or `ms` passed). A reactor's answer follows its
   * release of the shared TCP socket on the same IPC channel: once all have answered, that socket is closed.
   */
  private stopAccepting(handles: ReactorHandle[], ms: number): Promise<void> {
    return Promise.all(
      handles.map((h) => {
        const p = h.expect('stopped-accepting', ms).catch(() => undefined);
        h.send({ t: 'stop-accepting' });
        return p;
      }),
    ).then(() => undefined);
  }

  /** Every listener of `old` closed first, then goaway and drain (FACTS.md: no reconnect lands on a closing listener). */
  private async retireHandles(old: ReactorHandle[]): Promise<void> {
    await this.stopAccepting(old, 2000);
    for (const h of old) {
      if (h.state === 'dead') continue;
      h.state = 'retiring';
      h.send({ t: 'retire' });
    }
  }

  /** SIGHUP. */
  async reload(): Promise<void> {
    if (this.stopping) return;
    if (this.reloading) {
      this.reloadQueued = true;
      this.log.info('reload: already under way, queued');
      return;
    }
    this.reloading = true;
    const t0 = performance.now();
    this.log.info({ generation: this.generation + 1 }, 'reload: starting');
    try {
      const args = parseServeArgs(this.argv);
      const o = resolveOptions(args.options);
      const was = this.currentOptions;
      for (const k of ['host', 'port', 'tcpPort'] as const) {
        if (o[k] !== was[k]) throw new ConfigError(`${k === 'tcpPort' ? '--tcp-port' : `--${k}`} cannot change on reload (restart the server to move it)`);
      }
      const next = await this.startGeneration(args, o, this.ports!);
      if (this.stopping) return;
      const old = [...this.live.values()].filter((h) => h.state === 'listening' && !next.includes(h));
      this.current = next;
      this.args = args;
      this.currentOptions = o;
      await this.retireHandles(old);
      this.reloads.ok++;
      this.log.info({ generation: this.generation, reactors: next.length, ms: Math.round(performance.now() - t0), retiring: old.length }, 'reload complete');
    } catch (e) {
      this.reloads.failed++;
      this.log.error({ err: (e as Error).message.split('\n')[0] }, 'reload failed');
    } finally {
      this.reloading = false;
      if (this.reloadQueued && !this.stopping) {
        this.reloadQueued = false;
        void this.reload();
      }
    }
  }

  /** SIGTERM / SIGINT. */
  shutdown(signal: string): void {
    if (this.stopping) {
      this.log.warn({ signal }, 'shutdown already in progress');
      return;
    }
    this.stopping = true;
    const signalled = Date.now();
    this.log.info({ signal, reactors: this.live.size }, 'shutdown: signal received');
    // The contract promises exit within --drain-timeout even if a reactor hangs.
    const hard = setTimeout(() => {
      this.log.error({ reactors: this.live.size }, 'shutdown: drain deadline overrun, killing reactors');
      for (const h of this.live.values()) h.worker.process.kill('SIGKILL');
      process.exit(0);
    }, this.currentOptions.drainTimeout * 1000 + 500);
    hard.unref();
    if (this.live.size === 0) return this.finishShutdown();
    // Every reactor stops accepting before any sends goaway. The TCP listening socket is this process's (cluster),
    // closed only once the last reactor has let go of it: a client moving on goaway would otherwise land in its
    // backlog and be reset unserved when it closes.
    const handles = [...this.live.values()];
    for (const h of handles) h.state = 'ending';
    void this.stopAccepting(handles, 500).then(() => {
      for (const h of handles) if (this.live.has(h.worker.id)) h.send({ t: 'shutdown', elapsedMs: Date.now() - signalled });
    });
  }

  private finishShutdown(): void {
    this.log.info('shutdown: all reactors closed');
    process.exit(0);
  }

  /** The whole server's Prometheus text: every live reactor's, summed, plus what reactors gone before counted. */
  async gather(): Promise<string> {
    const handles = [...this.live.values()].filter((h) => h.state === 'listening' || h.state === 'retiring' || h.state === 'ending');
    const texts = await Promise.all(handles.map((h) => this.snapshot(h)));
    const total = new MetricsText();
    const perReactor: string[] = [];
    handles.forEach((h, i) => {
      const text = texts[i];
      if (text === null) return;
      const m = new MetricsText().add(text);
      h.lastCounters = m.monotonic();
      total.merge(m);
      const conns = m.value('ringloop_connections{transport="ws"}') + m.value('ringloop_connections{transport="tcp"}');
      perReactor.push(`ringloop_reactor_connections{reactor="${h.index}",generation="${h.generation}"} ${conns}`);
    });
    total.merge(this.retired);
    total.add(this.ownMetrics(perReactor));
    return total.render();
  }

  private snapshot(h: ReactorHandle): Promise<string | null> {
    return new Promise((resolve) => {
      const id = this.snapshotId++;
      const timer = setTimeout(() => done(null), SNAPSHOT_MS);
      const done = (text: string | null): void => {
        clearTimeout(timer);
        this.snapshots.delete(id);
        resolve(text);
      };
      this.snapshots.set(id, done);
      h.send({ t: 'snapshot', id });
    });
  }

  private ownMetrics(perReactor: string[]): string {
    const serving = this.current.filter((h) => h.state === 'listening').length;
    let rss: string;
    try {
      rss = `# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ${process.memoryUsage.rss()}\n`;
    } catch {
      rss = ''; // e.g. EMFILE: missing, not fatal
    }
    return [
      '# HELP ringloop_reactors Reactor processes of the current generation that are serving.',
      '# TYPE ringloop_reactors gauge',
      `ringloop_reactors ${serving}`,
      '# HELP ringloop_generation Generation serving new connections (1, then +1 per successful reload).',
      '# TYPE ringloop_generation gauge',
      `ringloop_generation ${this.current[0]?.generation ?? 0}`,
      '# HELP ringloop_reactor_restarts_total Reactors that died outside shutdown and were replaced.',
      '# TYPE ringloop_reactor_restarts_total counter',
      `ringloop_reactor_restarts_total ${this.restarts}`,
      '# HELP ringloop_reloads_total Hot restarts (SIGHUP), by outcome.',
      '# TYPE ringloop_reloads_total counter',
      `ringloop_reloads_total{outcome="ok"} ${this.reloads.ok}`,
      `ringloop_reloads_total{outcome="failed"} ${this.reloads.failed}`,
      '# HELP ringloop_reactor_connections Open connections per reactor process (the spread).',
      '# TYPE ringloop_reactor_connections gauge',
      ...perReactor,
    ].join('\n') + '\n' + rss;
  }
}
