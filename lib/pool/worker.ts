/**
 * A pool worker thread. It loads the plugins named in workerData by module
 * path, keeps their offloaded methods, then serves its request ring:
 *
 *   loop: read every published request (a batch), run each, write each
 *         answer into the response ring, publish answers (one Atomics.store)
 *         and ring the reactor's doorbell only if the reactor sleeps;
 *         no work: spin ~spinUs, then sleep on the request ring's WRITE word.
 *
 * How it sleeps (sleepMode 'auto', the default): a blocked thread runs no
 * timers, promise continuations or I/O, so Atomics.wait would stall an async
 * method, or a plugin's own timer, until the next task arrived. So the worker
 * blocks in Atomics.wait only when no async task is pending and nothing but
 * the parent port is active in its event loop (then it is the fastest
 * wake-up: ~25 µs sooner than waitAsync at p50, benchmarks/pool.bench.ts
 * "strategies"), for at most 100 ms at a time; otherwise it sleeps in
 * Atomics.waitAsync and its event loop keeps running. While async tasks are
 * pending, the loop also yields to the event loop after each batch so their
 * continuations run. The spin phase hides either wake-up on busy pools.
 */
import os from 'node:os';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { RingReader, RingWriter, SLEEP, WRITE, waitAsync } from './ring';
import {
  OP_METHOD_MASK,
  OP_NOTIFY,
  OP_OVERSIZE,
  RESP_ASYNC,
  RESULT_HEADROOM,
  STATUS_ERROR,
  STATUS_EXPIRED,
  STATUS_OK,
  STATUS_SKIPPED,
  decodeParams,
  encodeErrorBody,
  encodeResultBody,
  errorBodyOf,
  POOL_DOORBELL,
  POOL_REACTOR_SLEEP,
  POOL_SHUTDOWN,
  type WorkerInit,
} from './wire';
import { WorkerHost, findPlugin } from './host';
import { SpinGate } from './spin-gate';
import { ownThreadId, pinThread } from '../reactor/affinity';
import type { CallContext, MethodFn } from '../reactor/types';

const init = workerData as WorkerInit;
const port = init.port;
const req = new RingReader(init.req);
const resp = new RingWriter(init.resp);
const cancel = new Int32Array(init.cancel);
/** Index in `cancel` where this worker says which slot it is inside (slot + 1; 0: none), for the pool's stuck-task watchdog. */
const RUNNING = cancel.length - 1;
const ctl = new Int32Array(init.ctl);
const log = pino({ level: init.logLevel, base: { pid: process.pid, worker: init.index } });
const host = new WorkerHost(log, init.options);
const fns: MethodFn[] = [];
const spinMs = init.spinUs / 1000;
/** Publish answers at least this often while a batch runs, ms. */
const PUBLISH_EVERY_MS = 0.05;
/** Return to the event loop at least this often under constant load, ms (timers, messages). */
const YIELD_EVERY_MS = 10;

/** Longest blocking sleep before the event loop gets a turn, ms. */
const BLOCK_MS = 100;
const activeResources = (process as unknown as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;

/**
 * Nothing but the parent port keeps this thread's event loop busy: no timer,
 * socket, file request... from plugin code (process.getActiveResourcesInfo,
 * ~3 µs, called only on the way to sleep). Then blocking in Atomics.wait
 * delays nobody.
 */
function nothingElsePending(): boolean {
  if (activeResources === undefined) return false;
  const r = activeResources.call(process);
  return r.length === 1 && r[0] === 'MessagePort';
}

let asyncPending = 0;
let stopping = false;
let lastPublish = 0;
let publishScheduled = false;

/** The ctx an offloaded method gets: no connection here (it lives on the reactor). */
class WorkerContext implements CallContext {
  private ac: AbortController | null = null;
  readonly conn = undefined as unknown as CallContext['conn'];
  constructor(
    readonly msgid: number,
    readonly method: string,
    readonly deadline: number,
    /** Its slot: the pool sets cancel[slot] on timeout or disconnect. */
    readonly slot: number,
  ) {}
  get log(): CallContext['log'] {
    return log;
  }
  get signal(): AbortSignal {
    if (this.ac === null) {
      this.ac = new AbortController();
      if (stopping) this.ac.abort(new Error('worker shutting down'));
      else contexts.add(this);
    }
    return this.ac.signal;
  }
  abort(reason: string): void {
    this.ac?.abort(new Error(reason));
  }
  forget(): void {
    if (this.ac !== null) contexts.delete(this);
  }
}
/** Async tasks that asked for their signal: aborted when the pool cancels them, or when the worker stops. */
const contexts = new Set<WorkerContext>();

/** Aborts the signal of every pending async task the pool has cancelled (it wakes a sleeping worker to get here). */
function checkCancelled(): void {
  for (const c of contexts) {
    if (Atomics.load(cancel, c.slot) === 0) continue;
    contexts.delete(c);
    c.abort('request cancelled (timed out or its client disconnected)');
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

// ---- answers ----

function reserveAnswer(body: number): number {
  let off = resp.reserve(body);
  while (off < 0) {
    // Response ring full: let the reactor read (it never blocks) and wait for room; not once the pool is closing.
    if (Atomics.load(ctl, POOL_SHUTDOWN) !== 0) return -1;
    ringDoorbell();
    resp.waitForSpace(20);
    off = resp.reserve(body);
  }
  return off;
}

function answer(slot: number, status: number, bytes: Uint8Array | null, runUs: number): void {
  const n = bytes === null ? 0 : bytes.length;
  let oversize = 0;
  if (n > init.oversizeBytes) {
    // Too big for the ring: a buffer of its own, transferred, with room in front for the reactor's response header.
    const ab = new ArrayBuffer(RESULT_HEADROOM + n);
    new Uint8Array(ab, RESULT_HEADROOM).set(bytes!);
    port.postMessage(ab, [ab]);
    oversize = OP_OVERSIZE;
  }
  const flags = oversize;
  const off = reserveAnswer(oversize !== 0 ? 0 : n);
  if (off < 0) return; // shutting down and the reactor is gone
  const i = off >> 2;
  resp.i32[i + 1] = slot;
  resp.i32[i + 2] = status | flags; // status may carry RESP_ASYNC
  resp.f32[i + 3] = runUs;
  if (oversize === 0 && n > 0) {
    const at = off + 16;
    if (n > 64) resp.u8.set(bytes!, at);
    else for (let k = 0; k < n; k++) resp.u8[at + k] = bytes![k];
  }
}

function answerValue(slot: number, value: unknown, runUs: number, flags = 0): void {
  let bytes: Uint8Array;
  try {
    bytes = encodeResultBody(value);
  } catch (e) {
    answer(slot, STATUS_ERROR | flags, encodeErrorBody({ code: 'HANDLER_ERROR', message: `result could not be encoded: ${(e as Error).message}` }), runUs);
    return;
  }
  answer(slot, STATUS_OK | flags, bytes, runUs);
}

function answerError(slot: number, e: unknown, runUs: number, flags = 0): void {
  answer(slot, STATUS_ERROR | flags, encodeErrorBody(errorBodyOf(e)), runUs);
}

function ringDoorbell(): void {
  resp.publish();
  if (Atomics.load(ctl, POOL_REACTOR_SLEEP) !== 0) {
    Atomics.add(ctl, POOL_DOORBELL, 1);
    Atomics.notify(ctl, POOL_DOORBELL);
  }
}

function publish(): void {
  lastPublish = performance.now();
  if (resp.pending) ringDoorbell();
}

/** Answers of async tasks: published once per microtask batch. */
function schedulePublish(): void {
  if (publishScheduled) return;
  publishScheduled = true;
  queueMicrotask(() => {
    publishScheduled = false;
    publish();
  });
}

// ---- running tasks ----

function run(off: number): void {
  const i = off >> 2;
  const len = req.i32[i];
  const slot = req.i32[i + 1];
  const op = req.i32[i + 2];
  const msgid = (op & OP_NOTIFY) !== 0 ? -1 : req.i32[i + 3] >>> 0;
  const deadline = req.f64[(off + 16) >> 3];
  let own: Buffer | null = null;
  if ((op & OP_OVERSIZE) !== 0) {
    // Always take the port message, even for a skipped task: messages pair with frames in order.
    const m = receiveMessageOnPort(port);
    own = m === undefined ? Buffer.alloc(0) : Buffer.from(m.message as ArrayBuffer);
  }
  if (Atomics.load(cancel, slot) !== 0) return answer(slot, STATUS_SKIPPED, null, 0);
  if (deadline <= Date.now()) return answer(slot, STATUS_EXPIRED, null, 0);
  const m = op & OP_METHOD_MASK;
  const fn = fns[m];
  const t0 = performance.now();
  let result: unknown;
  let ctx: WorkerContext | null = null;
  Atomics.store(cancel, RUNNING, slot + 1);
  try {
    const params = own !== null ? decodeParams(own, true) : decodeParams(req.buf.subarray(off + 24, off + 16 + len), false);
    ctx = new WorkerContext(msgid, init.methods[m], deadline, slot);
    result = fn(params, ctx);
  } catch (e) {
    Atomics.store(cancel, RUNNING, 0);
    answerError(slot, e, (performance.now() - t0) * 1000);
    return;
  }
  Atomics.store(cancel, RUNNING, 0);
  if (isThenable(result)) {
    asyncPending++;
    const c = ctx;
    result.then(
      (v) => {
        asyncPending--;
        c.forget();
        if (!stopping) answerValue(slot, v, (performance.now() - t0) * 1000, RESP_ASYNC);
        schedulePublish();
      },
      (e: unknown) => {
        asyncPending--;
        c.forget();
        if (!stopping) answerError(slot, e, (performance.now() - t0) * 1000, RESP_ASYNC);
        schedulePublish();
      },
    );
    return;
  }
  answerValue(slot, result, (performance.now() - t0) * 1000);
}

/** Runs every published request; returns how many. */
function batch(): number {
  let n = 0;
  let off: number;
  while ((off = req.next()) >= 0) {
    run(off);
    n++;
    if (performance.now() - lastPublish > PUBLISH_EVERY_MS) {
      req.release();
      publish();
    }
  }
  if (n > 0) {
    req.release();
    publish();
  }
  return n;
}

const spinGate = new SpinGate();

/** Busy-waits up to spinUs for a request (when spinning has been paying off); true if one came. */
function spin(): boolean {
  if (spinMs <= 0 || !spinGate.allow()) return false;
  const until = performance.now() + spinMs;
  for (;;) {
    for (let k = 0; k < 32; k++) {
      if (req.hasData()) {
        spinGate.record(true);
        return true;
      }
    }
    if (Atomics.load(ctl, POOL_SHUTDOWN) !== 0 || performance.now() > until) {
      spinGate.record(false);
      return false;
    }
  }
}

function loop(): void {
  const yieldAt = performance.now() + YIELD_EVERY_MS;
  for (;;) {
    if (Atomics.load(ctl, POOL_SHUTDOWN) !== 0) return void stop();
    if (contexts.size > 0) checkCancelled();
    const n = batch();
    if (n > 0) {
      if (asyncPending > 0 || performance.now() > yieldAt) return void setImmediate(loop);
      continue;
    }
    if (asyncPending === 0 && spin()) continue;
    // Sleep: say so, then look once more (a request published in between is not missed).
    Atomics.store(req.ctl, SLEEP, 1);
    if (req.hasData() || Atomics.load(ctl, POOL_SHUTDOWN) !== 0) {
      Atomics.store(req.ctl, SLEEP, 0);
      continue;
    }
    if (asyncPending === 0 && (init.sleepMode === 'sync' || (init.sleepMode === 'auto' && nothingElsePending()))) {
      // Block: the fastest wake-up, and nothing else in this thread needs its event loop right now.
      // Bounded, and followed by one turn of the event loop when it times out (unref'd timers, stray microtasks).
      const r = Atomics.wait(req.ctl, WRITE, req.seen, BLOCK_MS);
      Atomics.store(req.ctl, SLEEP, 0);
      if (r === 'timed-out' || performance.now() > yieldAt) return void setImmediate(loop);
      continue;
    }
    const w = waitAsync(req.ctl, WRITE, req.seen);
    if (w.async) {
      void w.value.then(wake);
      return;
    }
    Atomics.store(req.ctl, SLEEP, 0);
  }
}

function wake(): void {
  Atomics.store(req.ctl, SLEEP, 0);
  loop();
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const c of contexts) c.abort('worker shutting down');
  const hooks = host.shutdownHooks.map((fn) => {
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e);
    }
  });
  void Promise.allSettled(hooks).then(() => process.exit(0));
}

/**
 * Lower this thread's CPU priority: on Linux the nice value is per thread
 * (setpriority(PRIO_PROCESS, 0) from a thread changes that thread only; seen
 * here), so the reactor thread keeps its priority and preempts a busy worker
 * when a request arrives. Elsewhere it would apply to the whole process: skip.
 */
function lowerPriority(): void {
  if (process.platform !== 'linux' || !(init.nice > 0)) return;
  try {
    os.setPriority(0, Math.min(19, os.getPriority(0) + Math.round(init.nice)));
  } catch {
    // not allowed here: run at the inherited priority
  }
}

async function start(): Promise<void> {
  lowerPriority();
  if (init.cpus.length > 0) pinThread(ownThreadId(), init.cpus); // a failure fails the pool's start-up
  for (const ref of init.plugins) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod: unknown = require(ref.module);
    const plugin = findPlugin(mod, ref.name);
    if (plugin === null) throw new Error(`plugin ${ref.name} not found in ${ref.module}`);
    await host.setup(plugin, ref.options);
  }
  for (const name of init.methods) {
    const fn = host.methods.get(name);
    if (fn === undefined) throw new Error(`method ${JSON.stringify(name)} was not registered with { offload: true } in the worker`);
    fns.push(fn);
  }
}

// The parent port keeps this thread alive while it sleeps in waitAsync (which alone would not).
parentPort!.on('message', (m: { type?: string }) => {
  if (m?.type === 'close') stop();
});

start().then(
  () => {
    parentPort!.postMessage({ type: 'ready' });
    lastPublish = performance.now();
    loop();
  },
  (e: unknown) => {
    parentPort!.postMessage({ type: 'failed', message: (e as Error)?.message ?? String(e) });
    process.exit(1);
  },
);
