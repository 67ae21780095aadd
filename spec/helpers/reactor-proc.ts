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
