/**
 * The worker pool, reactor side: worker_threads fed through shared-memory
 * rings (ring.ts), one request ring and one response ring per worker.
 *
 * Hot path, per task: params are packed once (MessagePack) and copied into
 * the least-loaded worker's request ring; every task written in one
 * event-loop turn is published with one Atomics.store (a microtask), and the
 * worker is woken (Atomics.notify) only when it sleeps. Responses come back the
 * same way; the reactor never blocks: it learns of them by polling on
 * setImmediate for a short while when tasks are short (cheap, ~1 µs per look),
 * and otherwise through one Atomics.waitAsync on a pool-wide doorbell that
 * workers ring only when the reactor sleeps. No Promise, no postMessage per
 * task; a task is a plain object (PoolTask) and completion a method call.
 *
 * Dispatch and bounds: each method has a cost estimate (moving average of
 * the CPU time its tasks took; async tasks count as cheap, their waiting is
 * not CPU). A task goes to the worker with the least estimated work, if that
 * worker's work stays under ~2 ms (or it is idle): long tasks are not stacked
 * behind each other while another worker idles, tiny ones are batched by the
 * hundred. The rest wait in one FIFO (denque) bounded by count and bytes;
 * full -> submit() returns false and the caller answers OVERLOADED.
 *
 * Cancellation: a queued task is dropped at once; a task already in a ring is
 * flagged in a shared per-slot table that the worker checks before running
 * it (it then answers SKIPPED); a running task's result is discarded.
 * Deadlines: the worker also refuses a task whose deadline has passed.
 *
 * Failure: a worker that exits (crash, process.exit in a task, uncaught
 * error) has every task it held completed with STATUS_CRASHED, is replaced
 * (with back-off if it dies while starting), and the pool keeps serving.
 */
import path from 'node:path';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import Denque from 'denque';
import type { Logger } from 'pino';
import { RingReader, RingWriter, SLEEP, WRITE, createRing, waitAsync } from './ring';
import { SpinGate } from './spin-gate';
import {
  OP_NOTIFY,
  OP_OVERSIZE,
  RESULT_HEADROOM,
  STATUS_CLOSED,
  STATUS_ERROR,
  STATUS_EXPIRED,
  STATUS_MASK,
  STATUS_OK,
  RESP_ASYNC,
  STATUS_SKIPPED,
  STATUS_CRASHED,
  poolErrorBody,
  decodeValue,
  encodeParams,
  POOL_CTL_BYTES,
  POOL_DOORBELL,
  POOL_REACTOR_SLEEP,
  POOL_SHUTDOWN,
  type PoolPluginRef,
  type WorkerInit,
} from './wire';
import { RpcError, ErrorCode } from '../errors';

export type { PoolPluginRef, WorkerInit } from './wire';

export type TaskOutcome = 'ok' | 'error' | 'crashed' | 'cancelled' | 'discarded' | 'expired' | 'overloaded' | 'closed';

/** Where the pool reports what it does (metrics). Every call is cheap and optional to use. */
export interface PoolObserver {
  queueDepth(n: number): void;
  outcome(o: TaskOutcome): void;
  /**
   * A task ran: its run time (wall), the time it spent waiting (queue, rings,
   * wake-ups) and the worker time it kept busy (its synchronous part), in seconds.
   */
  ran(worker: number, runSeconds: number, waitSeconds: number, busySeconds: number): void;
  workers(alive: number): void;
  restarted(worker: number, exitCode: number): void;
}

// PoolTask states
export const TASK_NEW = 0;
export const TASK_QUEUED = 1;
export const TASK_SENT = 2;
export const TASK_DONE = 3;
export const TASK_CANCELLED = 4;
/** Cancelled while in a worker's ring or running: the worker answers SKIPPED or its result is discarded. */
export const TASK_CANCELLED_SENT = 5;

/**
 * A unit of work. The pool fills the pool* fields; the owner supplies msgid,
 * deadline and poolDone, which runs exactly once unless the task is cancelled
 * first (then never).
 */
export interface PoolTask {
  /** Passed to the worker as ctx.msgid (-1: none). */
  readonly msgid: number;
  /** Epoch ms; the task never starts after it. Infinity: none. */
  readonly deadline: number;
  poolState: number;
  poolMethod: number;
  poolParams: Uint8Array | null;
  poolWorker: PoolWorker | null;
  poolSlot: number;
  /** performance.now() at submit. */
  poolStart: number;
  /** Estimated CPU µs charged to its worker while it holds the task. */
  poolCost: number;
  /** performance.now() when it was cancelled after being sent to a worker (0: not). */
  poolCancelledAt: number;
  /**
   * STATUS_OK: body is the result as MessagePack; STATUS_ERROR: the error map
   * as MessagePack; otherwise body is null. A body may be a view into shared
   * memory, valid only during the call: copy or decode it before returning.
   */
  poolDone(status: number, body: Uint8Array | null, runMicros: number): void;
}

export interface PoolOptions {
  /** Worker threads. */
  size: number;
  /** Plugins every worker loads (by module path) before it serves. */
  plugins: PoolPluginRef[];
  /** Offloaded method names; a task names one by its index here. */
  methods: string[];
  /** Tasks waiting for a worker (default 4096). */
  maxQueue?: number;
  /** Bytes of params waiting for a worker (default 64 MiB). */
  maxQueueBytes?: number;
  /** Data bytes of each ring, a power of two (default 256 KiB). */
  ringBytes?: number;
  /** Frames with a body over this travel through a MessagePort with a transferred buffer (default ringBytes / 8). */
  oversizeBytes?: number;
  /** Tasks one worker holds at most (default 1024). */
  maxTasksPerWorker?: number;
  /** How long an idle worker spins before it sleeps, µs (default 50). */
  spinUs?: number;
  /**
   * How an idle worker sleeps: 'auto' (default: Atomics.wait when nothing else in the worker needs its
   * event loop, else Atomics.waitAsync), 'async' (always waitAsync) or 'sync' (Atomics.wait unless async tasks are pending).
   */
  sleepMode?: 'auto' | 'async' | 'sync';
  /** Reactor polls on setImmediate while the average task is shorter than this, µs (default 200; 0 = always waitAsync). */
  pollUs?: number;
  /** Milliseconds a worker may take to load its plugins (default 10000). */
  startTimeoutMs?: number;
  /**
   * Linux: workers lower their own thread's CPU priority by this much (nice),
   * so other work on their CPUs goes first (--worker-nice; default 0 = off;
   * with --reactor-cpu it keeps load on the workers' CPUs responsive, see
   * native-notes/worker-pool.md).
   * Other platforms: ignored (there it would lower the whole process).
   */
  workerNice?: number;
  /**
   * A worker still running a task this many ms after the task was cancelled
   * (timeout, disconnect) is stuck (an endless loop ignores cancellation):
   * it is terminated and replaced; its other tasks get WORKER_CRASHED
   * (default 2000; 0 = never).
   */
  stuckMs?: number;
  /** Linux: each worker pins its own thread to these CPUs as it starts (--reactor-cpu; empty = no pinning). */
  cpus?: number[];
  log?: Logger;
  logLevel?: string;
  /** Given to plugins' setup in workers as `reactor.options`. */
  options?: unknown;
  observer?: PoolObserver;
}

const WORKER_FILE = path.join(__dirname, 'worker.js');
/** Hand a worker at most about this much estimated work at once, µs. */
const LOAD_TARGET_US = 2000;
/** Cost estimate of a method before any of its tasks has finished, µs. */
const INITIAL_COST_US = 1000;
/** What an async task counts for (its awaiting is not CPU work), µs. */
const ASYNC_COST_US = 5;
const COST_ALPHA = 0.2;
/**
 * A worker may hold a second task behind the one it runs (so it never idles
 * for a round trip between tasks) unless they are this long, µs: then the
 * gap costs < 1% and a free worker should get the next one instead.
 */
const PIPELINE_MAX_US = 10000;
/** Polling stops this long after the last completion or submit, ms. */
const POLL_WINDOW_MS = 0.2;

const noopObserver: PoolObserver = {
  queueDepth() {},
  outcome() {},
  ran() {},
  workers() {},
  restarted() {},
};

/** One worker thread and its two rings. */
export class PoolWorker {
  thread: Worker;
  readonly reqW: RingWriter;
  readonly respR: RingReader;
  readonly cancel: Int32Array;
  readonly port: MessagePort;
  readonly tasks: Array<PoolTask | null>;
  private readonly freeSlots: Int32Array;
  private freeTop: number;
  outstanding = 0;
  /** Estimated CPU work it holds, µs (sum of its tasks' poolCost). */
  load = 0;
  ready = false;
  dead = false;
  /** terminate() was called on it (stuck); its exit is on the way. */
  terminating = false;
  dirty = false;
  /** When it became ready (performance.now()). */
  readyAt = 0;
  readonly exited: Promise<number>;

  constructor(
    readonly index: number,
    pool: WorkerPool,
    init: Omit<WorkerInit, 'index' | 'req' | 'resp' | 'cancel' | 'port'>,
    ringBytes: number,
    readonly maxTasks: number,
  ) {
    const req = createRing(ringBytes);
    const resp = createRing(ringBytes);
    // One flag per slot, then RUNNING: slot + 1 of the task the worker is inside right now (0: none).
    const cancel = new SharedArrayBuffer((maxTasks + 1) * 4);
    const { port1, port2 } = new MessageChannel();
    this.reqW = new RingWriter(req);
    this.respR = new RingReader(resp);
    this.cancel = new Int32Array(cancel);
    this.port = port1;
    this.tasks = new Array<PoolTask | null>(maxTasks).fill(null);
    this.freeSlots = new Int32Array(maxTasks);
    for (let i = 0; i < maxTasks; i++) this.freeSlots[i] = maxTasks - 1 - i;
    this.freeTop = maxTasks;
    const data: WorkerInit = { ...init, index, req, resp, cancel, port: port2 };
    this.thread = new Worker(WORKER_FILE, { workerData: data, transferList: [port2], stdout: false, stderr: false });
    this.thread.unref();
    this.exited = new Promise((resolve) => this.thread.once('exit', resolve));
    pool.watch(this);
  }

  takeSlot(): number {
    return this.freeTop > 0 ? this.freeSlots[--this.freeTop] : -1;
  }

  freeSlot(slot: number): void {
    this.freeSlots[this.freeTop++] = slot;
  }
}

export class WorkerPool {
  readonly size: number;
  readonly methods: readonly string[];
  private readonly workers: Array<PoolWorker | null>;
  private readonly queue = new Denque<PoolTask>();
  /** Queued tasks not cancelled (the queue may also hold cancelled ones, dropped lazily). */
  private live = 0;
  private queuedBytes = 0;
  private readonly maxQueue: number;
  private readonly maxQueueBytes: number;
  private readonly ringBytes: number;
  private readonly oversizeBytes: number;
  private readonly maxTasks: number;
  private readonly pollUs: number;
  private readonly startTimeoutMs: number;
  private readonly stuckMs: number;
  private readonly init: Omit<WorkerInit, 'index' | 'req' | 'resp' | 'cancel' | 'port'>;
  private readonly ctl: Int32Array;
  private readonly observer: PoolObserver;
  private readonly log: Logger | undefined;
  /** Tasks held by workers. */
  private outstanding = 0;
  private flushScheduled = false;
  /** A poll (setImmediate) or a waitAsync is pending. */
  private armed = false;
  private sleeping = false;
  /** A polling phase is running (setImmediate looks until an answer comes or the window ends). */
  private polling = false;
  private readonly pollGate = new SpinGate();
  private lastActivity = 0;
  /** Exponential moving average of task run time, µs. */
  private avgRunUs = INITIAL_COST_US;
  /** Per-method cost estimate, µs. */
  private readonly cost: Float64Array;
  private rr = 0;
  private state: 'new' | 'running' | 'closing' | 'closed' = 'new';
  private keepAlive: NodeJS.Timeout | null = null;
  private readonly restartDelay: number[];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private startWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private startFailure: Error | null = null;
  private startError: string | null = null;

  constructor(opts: PoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new RangeError('pool size must be a positive integer');
    if (opts.methods.length > 0xffff) throw new RangeError('too many offloaded methods');
    this.size = opts.size;
    this.methods = [...opts.methods];
    this.maxQueue = opts.maxQueue ?? 4096;
    this.maxQueueBytes = opts.maxQueueBytes ?? 64 * 1024 * 1024;
    this.ringBytes = opts.ringBytes ?? 256 * 1024;
    this.oversizeBytes = Math.min(opts.oversizeBytes ?? this.ringBytes >> 3, (this.ringBytes >> 1) - 64);
    this.maxTasks = opts.maxTasksPerWorker ?? 1024;
    this.pollUs = opts.pollUs ?? 200;
    this.startTimeoutMs = opts.startTimeoutMs ?? 10000;
    this.stuckMs = opts.stuckMs ?? 2000;
    this.observer = opts.observer ?? noopObserver;
    this.log = opts.log;
    this.ctl = new Int32Array(new SharedArrayBuffer(POOL_CTL_BYTES));
    this.init = {
      ctl: this.ctl.buffer as SharedArrayBuffer,
      plugins: opts.plugins,
      methods: this.methods as string[],
      spinUs: opts.spinUs ?? 50,
      sleepMode: opts.sleepMode ?? 'auto',
      nice: opts.workerNice ?? 0,
      cpus: opts.cpus ?? [],
      oversizeBytes: this.oversizeBytes,
      logLevel: opts.logLevel ?? opts.log?.level ?? 'info',
      options: opts.options ?? {},
    };
    try {
      structuredClone(this.init.plugins);
      structuredClone(this.init.options);
    } catch (e) {
      throw new TypeError(`plugin options cannot be sent to worker threads: ${(e as Error).message}`);
    }
    this.cost = new Float64Array(this.methods.length).fill(INITIAL_COST_US);
    this.workers = new Array<PoolWorker | null>(this.size).fill(null);
    this.restartDelay = new Array<number>(this.size).fill(0);
  }

  /** Index of an offloaded method, or -1. */
  methodIndex(name: string): number {
    return this.methods.indexOf(name);
  }

  /** Starts every worker; resolves once all have loaded their plugins, rejects with the first failure. */
  start(): Promise<void> {
    if (this.state !== 'new') throw new Error('pool already started');
    this.state = 'running';
    const done = new Promise<void>((resolve, reject) => this.startWaiters.push({ resolve, reject }));
    for (let i = 0; i < this.size; i++) this.spawn(i);
    const timer = setTimeout(() => this.failStart(new Error(`worker pool: workers not ready within ${this.startTimeoutMs} ms`)), this.startTimeoutMs);
    return done.finally(() => clearTimeout(timer));
  }

  /** Workers serving now. */
  get alive(): number {
    let n = 0;
    for (const w of this.workers) if (w !== null && w.ready && !w.dead) n++;
    return n;
  }

  /** Tasks waiting for a worker. */
  get queueDepth(): number {
    return this.live;
  }

  /** Tasks held by workers (in their rings or running). */
  get running(): number {
    return this.outstanding;
  }

  /** Thread ids of the current workers (tests, diagnostics). */
  threadIds(): number[] {
    return this.workers.map((w) => (w === null || w.dead ? -1 : w.thread.threadId));
  }

  /**
   * Queues a task. Returns false, without queueing, when the waiting queue is
   * full (the caller answers OVERLOADED) or the pool is closing. Throws a
   * TypeError when params cannot be encoded as plain MessagePack.
   */
  submit(task: PoolTask, method: number, params: unknown[]): boolean {
    if (this.state !== 'running') {
      this.observer.outcome('closed');
      return false;
    }
    const bytes = encodeParams(params);
    task.poolMethod = method;
    task.poolParams = bytes;
    task.poolStart = this.lastActivity = performance.now();
    task.poolWorker = null;
    task.poolSlot = -1;
    if (this.live === 0 && this.place(task)) return true;
    if (this.live >= this.maxQueue || this.queuedBytes + bytes.length > this.maxQueueBytes) {
      task.poolParams = null;
      this.observer.outcome('overloaded');
      return false;
    }
    // The bytes are a view into msgpackr's slab, which is never rewound: safe to keep while queued.
    task.poolState = TASK_QUEUED;
    this.queue.push(task);
    this.live++;
    this.queuedBytes += bytes.length;
    this.observer.queueDepth(this.live);
    this.arm();
    return true;
  }

  /**
   * Drops a task that has not completed: a queued one never runs, one in a
   * ring is skipped by its worker if not started, a running one's result is
   * discarded. poolDone is not called afterwards.
   */
  cancel(task: PoolTask): void {
    const st = task.poolState;
    if (st === TASK_QUEUED) {
      task.poolState = TASK_CANCELLED;
      this.live--;
      this.queuedBytes -= task.poolParams!.length;
      task.poolParams = null;
      this.observer.queueDepth(this.live);
      this.observer.outcome('cancelled');
      // Cancelled tasks leave the queue lazily; compact when they outnumber live ones.
      if (this.queue.length > 64 && this.queue.length > 2 * this.live) this.compact();
    } else if (st === TASK_SENT) {
      task.poolState = TASK_CANCELLED_SENT;
      task.poolCancelledAt = performance.now();
      const w = task.poolWorker!;
      Atomics.store(w.cancel, task.poolSlot, 1);
      // A sleeping worker may hold this task as a pending async call: wake it so the call's ctx.signal aborts now.
      if (Atomics.load(w.reqW.ctl, SLEEP) !== 0) Atomics.notify(w.reqW.ctl, WRITE);
    }
  }

  /** Graceful close: workers finish the task they are running (up to timeoutMs), then exit; then terminate. */
  async close(timeoutMs = 1000): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    const wasRunning = this.state === 'running';
    this.state = 'closing';
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    // Nothing queued will run now.
    while (this.queue.length > 0) {
      const t = this.queue.shift()!;
      if (t.poolState !== TASK_QUEUED) continue;
      t.poolState = TASK_DONE;
      t.poolParams = null;
      this.observer.outcome('closed');
      this.done(t, STATUS_CLOSED, null, 0);
    }
    this.live = 0;
    this.queuedBytes = 0;
    this.observer.queueDepth(0);
    Atomics.store(this.ctl, POOL_SHUTDOWN, 1);
    const exits: Array<Promise<unknown>> = [];
    for (const w of this.workers) {
      if (w === null) continue;
      Atomics.notify(w.reqW.ctl, 0);
      w.thread.postMessage({ type: 'close' });
      exits.push(w.exited);
    }
    if (wasRunning && exits.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(exits), new Promise((r) => (timer = setTimeout(r, Math.max(0, timeoutMs))))]);
      clearTimeout(timer);
    }
    // Answers that arrived while closing, then everyone else: closed.
    this.drain();
    for (const w of this.workers) {
      if (w === null) continue;
      this.failAll(w, STATUS_CLOSED, 'closed');
      w.dead = true;
      // terminate() of a plain worker never aborts the process (no native listen sockets live in workers).
      await w.thread.terminate().catch(() => undefined);
      w.port.close();
    }
    this.state = 'closed';
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    this.keepAlive = null;
    Atomics.add(this.ctl, POOL_DOORBELL, 1);
    Atomics.notify(this.ctl, POOL_DOORBELL);
    this.failStart(new Error('worker pool closed'));
    this.observer.workers(0);
  }

  /** Convenience for embedding and benchmarks: one Promise per task, result decoded. */
  run(method: string | number, params: unknown[], deadline = Infinity): Promise<unknown> {
    const m = typeof method === 'number' ? method : this.methodIndex(method);
    if (m < 0 || m >= this.methods.length) return Promise.reject(new RpcError(ErrorCode.METHOD_NOT_FOUND, `method ${String(method)} is not offloaded`));
    return new Promise((resolve, reject) => {
      const task = new CallbackTask(deadline, (status, body) => {
        if (status === STATUS_OK) resolve(decodeValue(body!));
        else reject(poolError(status, body));
      });
      if (!this.submit(task, m, params)) reject(new RpcError(ErrorCode.OVERLOADED, 'worker pool queue is full'));
    });
  }

  // ---- internals ----

  /** Wires a new worker's events (called from the PoolWorker constructor). */
  watch(w: PoolWorker): void {
    w.thread.on('message', (m: { type?: string; message?: string }) => {
      if (m?.type === 'ready') this.onReady(w);
      else if (m?.type === 'failed') this.onStartFailure(w, new Error(m.message ?? 'worker failed to start'));
    });
    w.thread.on('error', (e: Error) => {
      this.log?.error({ worker: w.index, err: e?.message ?? String(e) }, 'pool worker error');
      if (!w.ready) this.onStartFailure(w, e);
    });
    w.thread.on('exit', (code: number) => this.onExit(w, code));
  }

  private spawn(index: number): void {
    const w = new PoolWorker(index, this, this.init, this.ringBytes, this.maxTasks);
    this.workers[index] = w;
  }

  private onReady(w: PoolWorker): void {
    if (w.dead || this.workers[w.index] !== w) return;
    w.ready = true;
    w.readyAt = performance.now();
    this.observer.workers(this.alive);
    if (this.startWaiters.length > 0 && this.workers.every((x) => x !== null && x.ready)) {
      const waiters = this.startWaiters;
      this.startWaiters = [];
      for (const s of waiters) s.resolve();
    }
    this.pump();
    this.schedule();
  }

  private onStartFailure(w: PoolWorker, e: Error): void {
    this.startError = e.message;
    if (this.startWaiters.length > 0) this.failStart(new Error(`worker ${w.index} failed to start: ${e.message}`));
    void w;
  }

  private failStart(e: Error): void {
    if (this.startWaiters.length === 0) return;
    this.startFailure = e;
    const waiters = this.startWaiters;
    this.startWaiters = [];
    for (const s of waiters) s.reject(e);
  }

  private onExit(w: PoolWorker, code: number): void {
    if (w.dead) return;
    // Answers it published before dying are good.
    this.drainWorker(w);
    w.dead = true;
    w.port.close();
    const wasReady = w.ready;
    if (this.state !== 'running') return;
    this.log?.warn({ worker: w.index, code, tasks: w.outstanding }, 'pool worker exited; replacing it');
    this.failAll(w, STATUS_CRASHED, 'crashed');
    this.observer.restarted(w.index, code);
    this.observer.workers(this.alive);
    if (this.startFailure !== null) return; // start() failed: the owner closes the pool
    // A worker that dies while starting (or right after) is restarted with back-off.
    const quick = !wasReady || performance.now() - w.readyAt < 1000;
    const delay = quick ? Math.min(5000, Math.max(50, this.restartDelay[w.index] * 2)) : 0;
    this.restartDelay[w.index] = quick ? delay : 0;
    if (!wasReady && this.startWaiters.length > 0) {
      this.failStart(new Error(`worker ${w.index} exited with code ${code} while starting${this.startError ? `: ${this.startError}` : ''}`));
      return;
    }
    const t = setTimeout(() => {
      this.restartTimers.delete(t);
      if (this.state === 'running') this.spawn(w.index);
    }, delay);
    t.unref();
    this.restartTimers.add(t);
    this.pump();
    this.schedule();
  }

  /** Completes every task a worker holds with `status`. */
  private failAll(w: PoolWorker, status: number, outcome: TaskOutcome): void {
    for (let slot = 0; slot < w.tasks.length; slot++) {
      const t = w.tasks[slot];
      if (t === null) continue;
      w.tasks[slot] = null;
      w.freeSlot(slot);
      w.outstanding--;
      this.outstanding--;
      if (t.poolState === TASK_CANCELLED_SENT) {
        t.poolState = TASK_CANCELLED;
        this.observer.outcome('discarded');
        continue;
      }
      t.poolState = TASK_DONE;
      this.observer.outcome(outcome);
      this.done(t, status, null, 0);
    }
    w.load = 0;
    if (this.outstanding === 0) this.setKeepAlive(false);
  }

  private compact(): void {
    const keep: PoolTask[] = [];
    while (this.queue.length > 0) {
      const t = this.queue.shift()!;
      if (t.poolState === TASK_QUEUED) keep.push(t);
    }
    for (const t of keep) this.queue.push(t);
  }

  /** The worker with the least estimated work that can take `cost` more (an idle one always can), or null. */
  private pick(cost: number): PoolWorker | null {
    const ws = this.workers;
    const n = ws.length;
    let best: PoolWorker | null = null;
    let bestLoad = Infinity;
    let i = this.rr;
    for (let k = 0; k < n; k++) {
      const w = ws[i];
      if (++i === n) i = 0;
      if (w === null || !w.ready || w.dead || w.terminating || w.outstanding >= w.maxTasks) continue;
      if (w.outstanding === 0) {
        best = w;
        break;
      }
      const room = w.outstanding === 1 ? w.load < PIPELINE_MAX_US && cost < PIPELINE_MAX_US : w.load + cost <= LOAD_TARGET_US;
      if (room && w.load < bestLoad) {
        best = w;
        bestLoad = w.load;
      }
    }
    if (++this.rr >= n) this.rr = 0;
    return best;
  }

  /** Writes a task into the least-loaded worker's request ring; false if none can take it now. */
  private place(task: PoolTask): boolean {
    const cost = this.cost[task.poolMethod];
    const w = this.pick(cost);
    if (w === null) return false;
    const params = task.poolParams!;
    const oversize = params.length > this.oversizeBytes;
    const ring = w.reqW;
    const off = ring.reserve(oversize ? 8 : 8 + params.length);
    if (off < 0) return false;
    const slot = w.takeSlot();
    const i = off >> 2;
    ring.i32[i + 1] = slot;
    ring.i32[i + 2] = task.poolMethod | (oversize ? OP_OVERSIZE : 0) | (task.msgid < 0 ? OP_NOTIFY : 0);
    ring.i32[i + 3] = task.msgid | 0;
    ring.f64[(off + 16) >> 3] = task.deadline;
    if (oversize) {
      // One copy into a buffer of its own, transferred (not cloned) to the worker; it reads it when it reaches this frame.
      const ab = new ArrayBuffer(params.length);
      new Uint8Array(ab).set(params);
      w.port.postMessage(ab, [ab]);
    } else {
      copyInto(ring.u8, off + 24, params);
    }
    task.poolParams = null;
    task.poolState = TASK_SENT;
    task.poolWorker = w;
    task.poolSlot = slot;
    task.poolCost = cost;
    w.tasks[slot] = task;
    w.outstanding++;
    w.load += cost;
    if (this.outstanding++ === 0) this.setKeepAlive(true);
    if (!w.dirty) {
      w.dirty = true;
      this.schedule();
    }
    return true;
  }

  /** Publish this turn's writes once, at the end of the turn. */
  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const w of this.workers) {
      if (w !== null && w.dirty) {
        w.dirty = false;
        if (!w.dead) w.reqW.publish();
      }
    }
    this.arm();
  };

  /** Moves queued tasks into workers while they have room. */
  private pump(): void {
    if (this.live === 0 || this.state !== 'running') return;
    const now = Date.now();
    let changed = false;
    while (this.queue.length > 0) {
      const t = this.queue.peekFront()!;
      if (t.poolState !== TASK_QUEUED) {
        this.queue.shift();
        continue;
      }
      const bytes = t.poolParams!.length;
      if (t.deadline <= now) {
        this.queue.shift();
        this.live--;
        this.queuedBytes -= bytes;
        t.poolParams = null;
        t.poolState = TASK_DONE;
        changed = true;
        this.observer.outcome('expired');
        this.done(t, STATUS_EXPIRED, null, 0);
        continue;
      }
      if (!this.place(t)) break;
      this.queue.shift();
      this.live--;
      this.queuedBytes -= bytes;
      changed = true;
    }
    if (changed) this.observer.queueDepth(this.live);
  }

  /** Reads every published response of every worker. */
  private drain(): number {
    let n = 0;
    for (const w of this.workers) if (w !== null && !w.dead) n += this.drainWorker(w);
    return n;
  }

  private drainWorker(w: PoolWorker): number {
    const r = w.respR;
    let n = 0;
    let now = 0;
    let off: number;
    while ((off = r.next()) >= 0) {
      const i = off >> 2;
      const slot = r.i32[i + 1];
      const st = r.i32[i + 2];
      const runUs = r.f32[i + 3];
      let body: Uint8Array | null = null;
      if ((st & OP_OVERSIZE) !== 0) {
        const m = receiveMessageOnPort(w.port);
        if (m !== undefined) body = new Uint8Array(m.message as ArrayBuffer, RESULT_HEADROOM);
      } else {
        const len = r.i32[i];
        if (len > 0) body = r.buf.subarray(off + 16, off + 16 + len);
      }
      const task = w.tasks[slot];
      if (task === null || task === undefined) continue; // cannot happen; be safe
      w.tasks[slot] = null;
      w.freeSlot(slot);
      if (--w.outstanding === 0) w.load = 0;
      else w.load -= task.poolCost;
      this.outstanding--;
      n++;
      const status = st & STATUS_MASK;
      if (status === STATUS_OK || status === STATUS_ERROR) {
        if (now === 0) now = performance.now();
        const cpuUs = (st & RESP_ASYNC) !== 0 ? ASYNC_COST_US : runUs;
        const m = task.poolMethod;
        this.cost[m] += (cpuUs - this.cost[m]) * COST_ALPHA;
        this.avgRunUs += (cpuUs - this.avgRunUs) * COST_ALPHA;
        this.observer.ran(w.index, runUs / 1e6, Math.max(0, (now - task.poolStart) / 1000 - runUs / 1e6), cpuUs / 1e6);
      }
      if (task.poolState === TASK_CANCELLED_SENT) {
        Atomics.store(w.cancel, slot, 0);
        task.poolState = TASK_CANCELLED;
        this.observer.outcome(status === STATUS_SKIPPED ? 'cancelled' : status === STATUS_EXPIRED ? 'expired' : 'discarded');
        continue;
      }
      task.poolState = TASK_DONE;
      this.observer.outcome(status === STATUS_OK ? 'ok' : status === STATUS_ERROR ? 'error' : status === STATUS_EXPIRED ? 'expired' : 'cancelled');
      this.done(task, status, body, runUs);
    }
    r.release();
    if (this.outstanding === 0) this.setKeepAlive(false);
    return n;
  }

  private done(task: PoolTask, status: number, body: Uint8Array | null, runUs: number): void {
    try {
      task.poolDone(status, body, runUs);
    } catch (e) {
      this.log?.error({ err: (e as Error)?.message ?? String(e) }, 'pool task completion threw');
    }
  }

  // ---- learning of responses without blocking ----

  private arm(): void {
    if (this.armed || this.outstanding === 0 || this.state === 'closed') return;
    this.armed = true;
    if (this.avgRunUs < this.pollUs && performance.now() - this.lastActivity < POLL_WINDOW_MS + this.avgRunUs / 1000) {
      if (this.polling || this.pollGate.allow()) {
        this.polling = true;
        setImmediate(this.poll);
        return;
      }
    } else if (this.polling) {
      // the window ended without an answer
      this.polling = false;
      this.pollGate.record(false);
    }
    this.sleep();
  }

  private readonly poll = (): void => {
    this.armed = false;
    const n = this.drain();
    if (n > 0) {
      if (this.polling) {
        this.polling = false;
        this.pollGate.record(true);
      }
      this.lastActivity = performance.now();
      this.pump();
    }
    this.flush();
  };

  private sleep(): void {
    const ctl = this.ctl;
    Atomics.store(ctl, POOL_REACTOR_SLEEP, 1);
    const seq = Atomics.load(ctl, POOL_DOORBELL);
    for (const w of this.workers) {
      if (w !== null && !w.dead && w.respR.hasData()) {
        Atomics.store(ctl, POOL_REACTOR_SLEEP, 0);
        setImmediate(this.poll);
        return;
      }
    }
    this.sleeping = true;
    const r = waitAsync(ctl, POOL_DOORBELL, seq);
    if (r.async) void r.value.then(this.wake);
    else this.wake();
  }

  private readonly wake = (): void => {
    this.sleeping = false;
    Atomics.store(this.ctl, POOL_REACTOR_SLEEP, 0);
    this.poll();
  };

  /** Terminates a worker whose current task was cancelled more than stuckMs ago (onExit replaces it). */
  private reapStuck(): void {
    if (this.stuckMs <= 0 || this.state !== 'running') return;
    const now = performance.now();
    for (const w of this.workers) {
      if (w === null || w.dead || w.terminating) continue;
      const slot = Atomics.load(w.cancel, w.maxTasks) - 1;
      if (slot < 0) continue;
      const t = w.tasks[slot];
      if (t === null || t.poolState !== TASK_CANCELLED_SENT || now - t.poolCancelledAt < this.stuckMs) continue;
      w.terminating = true;
      this.log?.warn({ worker: w.index, method: this.methods[t.poolMethod], stuckMs: Math.round(now - t.poolCancelledAt) }, 'pool worker stuck in a cancelled task; replacing it');
      // terminate() stops even an endless loop; the exit event runs onExit (answers, replacement).
      void w.thread.terminate().catch(() => undefined);
    }
  }

  /** While tasks are out, a ref'd timer keeps the process alive (waitAsync does not) and re-checks the rings. */
  private setKeepAlive(on: boolean): void {
    if (on) {
      if (this.keepAlive === null) {
        this.keepAlive = setInterval(() => {
          this.reapStuck();
          if (!this.armed) this.poll();
          else if (this.sleeping) {
            // Safety net against a lost wake-up: cheap, once per interval.
            for (const w of this.workers) if (w !== null && !w.dead && w.respR.hasData()) return void Atomics.notify(this.ctl, POOL_DOORBELL);
          }
        }, 100);
      } else {
        this.keepAlive.ref();
      }
    } else if (this.keepAlive !== null) {
      this.keepAlive.unref();
    }
  }
}

/** Copies small buffers by hand (TypedArray.set has a fixed cost that dominates tiny frames). */
function copyInto(dst: Uint8Array, at: number, src: Uint8Array): void {
  const n = src.length;
  if (n > 64) {
    dst.set(src, at);
    return;
  }
  for (let k = 0; k < n; k++) dst[at + k] = src[k];
}

/** The error a status maps to, for callers of run(). */
export function poolError(status: number, body: Uint8Array | null): RpcError {
  const b = poolErrorBody(status, body);
  return new RpcError(b.code, b.message, b.data);
}

/** A PoolTask whose completion is a callback. */
export class CallbackTask implements PoolTask {
  poolState = TASK_NEW;
  poolMethod = 0;
  poolParams: Uint8Array | null = null;
  poolWorker: PoolWorker | null = null;
  poolSlot = -1;
  poolStart = 0;
  poolCost = 0;
  poolCancelledAt = 0;
  readonly msgid = -1;
  constructor(
    readonly deadline: number,
    private readonly cb: (status: number, body: Uint8Array | null, runMicros: number) => void,
  ) {}
  poolDone(status: number, body: Uint8Array | null, runMicros: number): void {
    this.cb(status, body, runMicros);
  }
}
