/**
 * A load run in its own process, pinned to CPU 1 (the servers sit on CPU 0),
 * so the load client and the server never share a core. The parent passes the
 * job as JSON; the child prints one JSON line with the report, its own CPU use
 * and the server's CPU seconds over the measured window.
 *
 *   node dist/benchmarks/servers/load-child.js '{"opts": {...}, "serverPid": 123}'
 */
import { spawn } from 'node:child_process';
import { runLoad, type LoadOptions, type LoadReport } from '../../lib/load';
import { pinned, procCpuSeconds, ROOT } from './harness';

export interface ChildJob {
  opts: LoadOptions;
  serverPid: number;
}

export interface ChildResult {
  report: LoadReport;
  /** Load client CPU use over the whole child run, in cores. */
  clientCpu: number;
  /** Server CPU seconds used during the measured window. */
  serverCpuSeconds: number;
}

/** Runs one load job in a separate (pinned) process. */
export function runLoadChild(job: ChildJob, pin: boolean): Promise<ChildResult> {
  const [cmd, argv] = pinned(1, pin, [__filename, JSON.stringify(job)]);
  const proc = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    proc.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`load child exited ${code}: ${err.slice(-800)}`));
      try {
        resolve(JSON.parse(line) as ChildResult);
      } catch {
        reject(new Error(`load child printed no report: ${out.slice(-400)} ${err.slice(-400)}`));
      }
    });
  });
}

async function childMain(json: string): Promise<void> {
  const job = JSON.parse(json) as ChildJob;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let serverCpu0 = NaN;
  let serverCpu1 = NaN;
  const report = await runLoad({
    ...job.opts,
    onPhase: (phase) => {
      if (phase === 'measure') serverCpu0 = procCpuSeconds(job.serverPid);
      else if (phase === 'drain') serverCpu1 = procCpuSeconds(job.serverPid);
    },
  });
  const c = process.cpuUsage(c0);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const result: ChildResult = {
    report,
    clientCpu: Math.round(((c.user + c.system) / wallUs) * 100) / 100,
    serverCpuSeconds: serverCpu1 - serverCpu0,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (require.main === module) {
  childMain(process.argv[2] ?? '{}').catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
