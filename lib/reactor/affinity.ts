/**
 * CPU affinity (`--reactor-cpu N`, Linux): the reactor thread gets CPU N to
 * itself; pool workers and Node's helper threads run on the other CPUs.
 *
 * Why: with the pool saturated, the kernel now and then queues the reactor
 * behind a busy worker on the same CPU for a whole time slice, and echo p99
 * goes from ~0.3 ms to ~2 ms. With the reactor on its own CPU it stays at the
 * unloaded level (benchmarks/pool-e2e.ts, native-notes/worker-pool.md).
 *
 * How: Linux affinity is per thread, and Node has no API for it, so util-linux
 * `taskset -p` sets each thread's mask by thread id, once, at start-up: the
 * main thread's other threads now, each pool worker itself as it starts
 * (/proc/thread-self names its id). Threads created later by the main thread
 * (libuv's file/DNS pool) inherit the reactor CPU; they are idle in serving.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { ConfigError } from '../errors';

export interface CpuLayout {
  reactor: number;
  /** Everything else this process may use: pool workers and helper threads. */
  others: number[];
}

/** Parses a Linux CPU list such as "0-3,6,8-9". */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) throw new Error(`unreadable CPU list ${JSON.stringify(list)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

/** CPUs this process may run on (its own affinity, e.g. a container's cpuset). */
export function allowedCpus(): number[] {
  const status = readFileSync('/proc/self/status', 'utf8');
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  if (m === null) throw new Error('no Cpus_allowed_list in /proc/self/status');
  return parseCpuList(m[1]!);
}

/** Checks that --reactor-cpu can be honoured here; throws ConfigError saying why not. */
export function planLayout(reactorCpu: number): CpuLayout {
  if (process.platform !== 'linux') throw new ConfigError('--reactor-cpu is Linux only');
  let allowed: number[];
  try {
    allowed = allowedCpus();
  } catch (e) {
    throw new ConfigError(`--reactor-cpu: cannot read this process's CPUs: ${(e as Error).message}`);
  }
  if (!allowed.includes(reactorCpu)) throw new ConfigError(`--reactor-cpu ${reactorCpu}: this process may only run on CPUs ${allowed.join(',')}`);
  const others = allowed.filter((c) => c !== reactorCpu);
  if (others.length === 0) throw new ConfigError(`--reactor-cpu ${reactorCpu}: it is the only CPU this process may use, so nothing would be left for the workers`);
  return { reactor: reactorCpu, others };
}

/** Id of the calling thread (the pid for the main thread). */
export function ownThreadId(): number {
  // "/proc/thread-self" -> "<pid>/task/<tid>"
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}

/** Sets one thread's CPU mask; throws an Error saying why it could not. */
export function pinThread(tid: number, cpus: readonly number[]): void {
  try {
    execFileSync('taskset', ['-p', '-c', cpus.join(','), String(tid)], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new Error('CPU pinning needs the taskset command (util-linux)');
    const why = err.stderr !== undefined && err.stderr.length > 0 ? err.stderr.toString().trim() : err.message;
    throw new Error(`taskset could not pin thread ${tid} to CPUs ${cpus.join(',')}: ${why}`);
  }
}

/** The main (reactor) thread onto layout.reactor, every other thread of the process now onto layout.others. */
export function applyReactorLayout(layout: CpuLayout): void {
  const self = ownThreadId();
  try {
    for (const name of readdirSync('/proc/self/task')) {
      const tid = Number(name);
      if (tid === self) continue;
      try {
        pinThread(tid, layout.others);
      } catch (e) {
        if (existsSync(`/proc/self/task/${tid}`)) throw e; // else it just exited
      }
    }
    pinThread(self, [layout.reactor]);
  } catch (e) {
    throw new ConfigError(`--reactor-cpu: ${(e as Error).message}`);
  }
}

