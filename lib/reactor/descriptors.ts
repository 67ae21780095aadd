/**
 * File-descriptor exhaustion (native-notes/descriptors.md).
 *
 * Why: at the descriptor limit uSockets' accept() fails with EMFILE and does
 * nothing about it; the listen socket stays readable and the reactor spins at
 * 100 % CPU, silently, for as long as connections wait in the backlog.
 * node:net (TCP) does not spin (libuv accepts and closes them) but is just as
 * silent. So, as the best servers do:
 *
 * - At listen, raise the soft RLIMIT_NOFILE to the hard limit (Go's runtime
 *   does this), with util-linux `prlimit` since Node has no setrlimit.
 * - Keep `--max-connections` below what the process can hold: limit − the
 *   descriptors open at listen − a reserve for files, HTTP sockets and metrics.
 * - Probe every PROBE_MS with one open("/dev/null") (~15 µs): Linux hands out
 *   the lowest free descriptor, so its number is a lower bound on the count in
 *   use; EMFILE means the table is full. Either way close every listen socket
 *   (no more accepting, no spin), log once per episode, count it; re-check with
 *   an exact count (readdir of /proc/self/fd, ~3 µs per descriptor, so only
 *   while paused) with exponential back-off, and listen again once below the
 *   limit by a reserve. Open connections are served throughout.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Registry } from '../metrics/registry';
import type { ReactorOptions } from './options';

const PROBE_MS = 100;
const BACKOFF_MAX_MS = 2000;

export interface NofileLimit {
  soft: number;
  hard: number;
}

/** RLIMIT_NOFILE from /proc/self/limits (Linux), or null elsewhere. */
export function readNofile(): NofileLimit | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line ? /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(line) : null;
    if (!m) return null;
    const n = (s: string): number => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
    return { soft: n(m[1]), hard: n(m[2]) };
  } catch {
    return null;
  }
}

/** Raises the soft descriptor limit to the hard one. Returns the limits after, and what went wrong if anything. */
export function raiseNofile(): { limit: NofileLimit | null; raisedFrom: number | null; error: string | null } {
  const before = readNofile();
  if (before === null || before.soft >= before.hard) return { limit: before, raisedFrom: null, error: null };
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${before.hard}:${before.hard}`], { stdio: 'pipe', timeout: 5000 });
  } catch (e) {
    return { limit: before, raisedFrom: null, error: `prlimit failed: ${(e as Error).message.split('\n')[0]}` };
  }
  const after = readNofile();
  return { limit: after, raisedFrom: after !== null && after.soft > before.soft ? before.soft : null, error: null };
}

/** Descriptors open in this process now (exact, O(count): use sparingly). */
export function openDescriptors(): number {
  // readdir holds one descriptor of its own while it runs.
  return readdirSync('/proc/self/fd').length - 1;
}

/** Descriptors kept free of connections: files, HTTP sockets before their upgrade, /proc reads, the pool. */
export function descriptorReserve(limit: number): number {
  return Math.min(1024, Math.max(16, Math.floor(limit / 16)));
}

/** A transport whose listen sockets can be closed and reopened on the same port. */
export interface Pausable {
  readonly name: string;
  pauseAccepting(): void;
  resumeAccepting(): Promise<void>;
}

export interface GuardHost {
  readonly options: ReactorOptions;
  readonly log: Logger;
  readonly metrics: { readonly registry: Registry };
}

export class DescriptorGuard {
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  private pausedAt = 0;
  private backoff = PROBE_MS;
  /** This episode's failure to listen again has been logged. */
  private resumeFailed = false;
  private readonly acceptErrors;
  private readonly pauses;

  constructor(
    private readonly host: GuardHost,
    private readonly transports: readonly Pausable[],
    readonly limit: number,
    readonly reserve: number,
    /** False once the reactor stops accepting for good (retiring in a hot restart, draining): the guard stops. */
    private readonly accepting: () => boolean,
  ) {
    const r = host.metrics.registry;
    this.acceptErrors = r
      .counter('ringloop_accept_errors_total', 'Times accepting failed or would fail for lack of file descriptors (EMFILE): accepting paused, counted once per check that found the table full.')
      .labels({ reason: 'descriptors' });
    this.pauses = r.counter('ringloop_accept_pauses_total', 'Episodes in which listen sockets were closed because descriptors ran (nearly) out.').labels();
    r.gauge('ringloop_accept_paused', '1 while listen sockets are closed for lack of file descriptors.').collect({}, () => (this.paused ? 1 : 0));
    r.gauge('ringloop_descriptor_limit', 'The soft RLIMIT_NOFILE in force (after raising it to the hard limit).').collect({}, () => this.limit);
  }

  start(): void {
    this.schedule(PROBE_MS);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => this.check(), ms);
    this.timer.unref();
  }

  private check(): void {
    this.timer = null;
    if (!this.accepting()) return; // listen sockets are closed for good
    if (this.paused) return this.recheck();
    let fd = -1;
    let full = false;
    try {
      fd = openSync('/dev/null', 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EMFILE' && code !== 'ENFILE') throw e;
      full = true;
    }
    if (fd >= 0) closeSync(fd);
    if (full || fd >= this.limit - Math.ceil(this.reserve / 2)) this.pause(full, fd);
    else this.schedule(PROBE_MS);
  }

  private pause(full: boolean, fd: number): void {
    this.paused = true;
    this.pausedAt = Date.now();
    this.backoff = PROBE_MS;
    this.resumeFailed = false;
    if (full) this.acceptErrors.inc();
    this.pauses.inc();
    for (const t of this.transports) t.pauseAccepting();
    // Once per episode: the next line is "accepting again".
    this.host.log.warn(
      { limit: this.limit, reserve: this.reserve, full, lowestFreeFd: full ? null : fd, connections: this.host.options.maxConnections },
      full ? 'file descriptors exhausted (EMFILE): not accepting until some are free' : 'file descriptors nearly exhausted: not accepting until some are free',
    );
    this.schedule(this.backoff);
  }

  private recheck(): void {
    let open: number;
    try {
      open = openDescriptors();
    } catch (e) {
      // The readdir itself needs a descriptor: still full.
      if ((e as NodeJS.ErrnoException).code !== 'EMFILE' && (e as NodeJS.ErrnoException).code !== 'ENFILE') throw e;
      this.acceptErrors.inc();
      open = this.limit;
    }
    if (open <= this.limit - this.reserve) {
      // Listen again; a transport that cannot (its port taken meanwhile, or port 0 with connections
      // open: see native-notes/descriptors.md) is retried with the same back-off.
      void Promise.all(this.transports.map((t) => t.resumeAccepting())).then(
        () => {
          this.paused = false;
          this.host.log.info({ open, limit: this.limit, pausedMs: Date.now() - this.pausedAt }, 'file descriptors available again: accepting');
          this.schedule(PROBE_MS);
        },
        (e: Error) => {
          if (!this.resumeFailed) this.host.log.error({ err: e.message }, 'could not listen again after descriptor exhaustion; retrying');
          this.resumeFailed = true;
          this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
          this.schedule(this.backoff);
        },
      );
      return;
    }
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
    this.schedule(this.backoff);
  }
}

/**
 * At listen: raises the descriptor limit, caps --max-connections (0 = as many
 * as the limit allows) and starts the guard. Linux only; null elsewhere.
 * Stops by itself once `accepting()` turns false.
 */
export function watchDescriptors(host: GuardHost, transports: readonly Pausable[], accepting: () => boolean): DescriptorGuard | null {
  const raised = raiseNofile();
  const limit = raised.limit;
  if (limit === null) return null;
  if (raised.error !== null) host.log.warn({ soft: limit.soft, hard: limit.hard, err: raised.error }, 'could not raise the file-descriptor limit');
  const reserve = descriptorReserve(limit.soft);
  const baseline = openDescriptors();
  const cap = Math.max(1, limit.soft - baseline - reserve);
  const o = host.options;
  const asked = o.maxConnections;
  if (asked === 0 || asked > cap) o.maxConnections = cap;
  const fields = { soft: limit.soft, hard: limit.hard, raisedFrom: raised.raisedFrom, open: baseline, reserve, maxConnections: o.maxConnections };
  if (asked > cap) host.log.warn({ ...fields, asked }, '--max-connections lowered to what the file-descriptor limit can hold');
  else host.log.info(fields, 'file-descriptor limit');
  const guard = new DescriptorGuard(host, transports, limit.soft, reserve, accepting);
  guard.start();
  return guard;
}
