/** `ringloop load … --json` as a child process that a spec can stop when it likes. */
import { spawn, type ChildProcess } from 'node:child_process';
import type { LoadReport } from '../../lib/load';
import { BIN, ROOT } from './client';

export interface LoadProcess {
  proc: ChildProcess;
  /** The report, once the process exits 0. */
  report: Promise<LoadReport>;
  /** Ends the measured window now (SIGINT: it still reports). */
  stop(): void;
}

export function startLoad(args: string[]): LoadProcess {
  const proc = spawn(process.execPath, [BIN, 'load', ...args, '--json', '--quiet'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const report = new Promise<LoadReport>((resolve, reject) =>
    proc.on('exit', (code) => {
      if (code !== 0) reject(new Error(`ringloop load exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as LoadReport);
    }),
  );
  return { proc, report, stop: () => proc.kill('SIGINT') };
}
