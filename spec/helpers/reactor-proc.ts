/**
 * `ringloop serve` is a supervisor with reactor processes: specs that measure
 * a reactor (RSS, descriptors) find its pid from the lines it logs.
 */
import { readFileSync } from 'node:fs';
import { delay } from './client';

/** The reactor's descriptor-limit line (its `--max-connections lowered` warning when it lowered it). */
export async function reactorLine(logs: Array<Record<string, unknown>>): Promise<Record<string, unknown>> {
  // Its lines and the supervisor's reach the pipe in either order.
  for (let i = 0; i < 100; i++) {
    const line = logs.find((l) => l.msg === 'file-descriptor limit' || l.msg === '--max-connections lowered to what the file-descriptor limit can hold');
    if (line) return line;
    await delay(50);
  }
  throw new Error('no descriptor-limit line from the reactor');
}

export async function reactorPid(logs: Array<Record<string, unknown>>): Promise<number> {
  return (await reactorLine(logs)).pid as number;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** The child processes of `pid` (a supervisor's reactors). */
export function children(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** SIGSTOP a supervisor and its reactor processes. */
export function freeze(pid: number): void {
  for (const p of [pid, ...children(pid)]) process.kill(p, 'SIGSTOP');
}

/** SIGKILL a supervisor's reactor processes, then the supervisor (nothing when it is already gone). */
export function killTree(pid: number): void {
  let kids: number[];
  try {
    kids = children(pid);
  } catch {
    return; // already gone
  }
  for (const p of [...kids, pid]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
