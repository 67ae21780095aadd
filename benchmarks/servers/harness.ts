/**
 * Shared harness of the benchmark scripts (e2e-echo, idle-rss): the server
 * table, starting/stopping servers as pinned child processes, reading a
 * process's CPU time and RSS, and machine information for result files.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** dist/benchmarks/servers */
const HERE = __dirname;
/** Repository root. */
export const ROOT = path.resolve(HERE, '..', '..', '..');

export interface ServerSpec {
  name: string;
  /** argv (node and script) to start it. */
  argv: string[];
  /** Echoes bytes untouched (the ceiling): the client counts echoed requests as answers. */
  rawEcho: boolean;
  transport: 'ws' | 'tcp';
  /** Log field holding the port to load. */
  portField: string;
}

/** `base`: another checkout's bin/ringloop.js, served as `ringloop-base` (a change against its parent, side by side). */
export function serverSpecs(base: string | null = null): ServerSpec[] {
  const script = (n: string): string => path.join(HERE, `${n}.js`);
  const ringloop = path.join(ROOT, 'bin', 'ringloop.js');
  return [
    { name: 'ringloop', argv: [ringloop, 'serve', '--port', '0', '--workers', '1'], rawEcho: false, transport: 'ws', portField: 'port' },
    {
      name: 'ringloop-tcp',
      argv: [ringloop, 'serve', '--port', '0', '--tcp-port', '0', '--workers', '1'],
      rawEcho: false,
      transport: 'tcp',
      portField: 'tcpPort',
    },
    { name: 'uws-msgpackr', argv: [script('uws-msgpackr'), '--port', '0'], rawEcho: false, transport: 'ws', portField: 'port' },
    { name: 'raw-uws-echo', argv: [script('raw-uws-echo'), '--port', '0'], rawEcho: true, transport: 'ws', portField: 'port' },
    { name: 'ws-rpc', argv: [script('ws-rpc'), '--port', '0'], rawEcho: false, transport: 'ws', portField: 'port' },
    ...(base === null ? [] : [{ name: 'ringloop-base', argv: [base, 'serve', '--port', '0', '--workers', '1'], rawEcho: false, transport: 'ws' as const, portField: 'port' }]),
  ];
}

export const hasTaskset = ((): boolean => {
  try {
    return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  } catch {
    return false;
  }
})();

export function pinned(cpu: number, pin: boolean, argv: string[]): [string, string[]] {
  if (pin && hasTaskset) return ['taskset', ['-c', String(cpu), process.execPath, ...argv]];
  return [process.execPath, argv];
}

/** A server process that has logged its JSON "listening" line. */
export interface Launched {
  proc: ChildProcess;
  pid: number;
  /** The "listening" log record (port, tcpPort...). */
  listening: Record<string, unknown>;
  /** Every JSON log record on stdout so far (kept up to date while it runs). */
  logs: Array<Record<string, unknown>>;
  /** The last chunks of stderr, for error messages. */
  stderr: string[];
}

export interface RunningServer extends Launched {
  spec: ServerSpec;
  port: number;
}

/** Starts `node ...argv` (pinned to CPU 0 with `pin`); resolves at its "listening" line, rejects if it exits first or is silent 20 s. */
export function launch(name: string, argv: string[], pin = false): Promise<Launched> {
  const [cmd, args] = pinned(0, pin, argv);
  const proc = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    const timer = setTimeout(() => finish(new Error(`${name}: no "listening" line after 20 s; stderr: ${stderr.join('').slice(-800)}`)), 20_000);
    const finish = (err: Error | null, listening?: Record<string, unknown>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        proc.kill('SIGKILL');
        reject(err);
      } else {
        resolve({ proc, pid: proc.pid!, listening: listening!, logs, stderr });
      }
    };
    proc.stderr!.on('data', (d: Buffer) => {
      stderr.push(d.toString());
      if (stderr.length > 50) stderr.shift();
    });
    // Read to the end, so the server never blocks on a full pipe and `logs` stays current.
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let obj: unknown;
        try {
          obj = JSON.parse(line);
        } catch {
          continue;
        }
        if (obj === null || typeof obj !== 'object') continue;
        const rec = obj as Record<string, unknown>;
        logs.push(rec);
        if (rec['msg'] === 'listening') finish(null, rec);
      }
    });
    proc.on('exit', (code, sig) => finish(new Error(`${name} exited (${code ?? sig}) before listening; stderr: ${stderr.join('').slice(-800)}`)));
  });
}

export async function startServer(spec: ServerSpec, pin: boolean): Promise<RunningServer> {
  const l = await launch(spec.name, spec.argv, pin);
  const port = l.listening[spec.portField];
  if (typeof port !== 'number' || port <= 0) {
    l.proc.kill('SIGKILL');
    throw new Error(`${spec.name}: no ${spec.portField} in its "listening" line`);
  }
  return { ...l, spec, port };
}

/** SIGTERM, and SIGKILL if it has not exited 5 s later. */
export async function stopServer(s: { proc: ChildProcess }): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = new Promise<void>((res) => s.proc.once('exit', () => res()));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

const CLK_TCK = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** CPU seconds used so far by a process (all its threads). */
/** pid and all its descendants (`ringloop serve` is a supervisor with reactor processes under it). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of fs.readdirSync(`/proc/${out[i]}/task`)) {
        const kids = fs.readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids !== '') for (const k of kids.split(' ')) out.push(Number(k));
      }
    } catch {
      /* gone, or not Linux */
    }
  }
  return out;
}

/** CPU seconds used so far by pid and its descendants. */
export function procCpuSeconds(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch {
      if (p === pid) return NaN;
    }
  }
  return sum;
}

function pkgVersion(name: string): string {
  try {
    const p = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { name?: string; version?: string };
    return p.name && p.name !== name ? `${p.name}@${p.version ?? '?'}` : (p.version ?? '?');
  } catch {
    return 'missing';
  }
}

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' });
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    taskset: hasTaskset,
    packages: {
      'uWebSockets.js': pkgVersion('uWebSockets.js'),
      msgpackr: pkgVersion('msgpackr'),
      ws: pkgVersion('ws'),
      'hdr-histogram-js': pkgVersion('hdr-histogram-js'),
      '@msgpack/msgpack': pkgVersion('@msgpack/msgpack'),
      benchmark: pkgVersion('benchmark'),
      denque: pkgVersion('denque'),
    },
    gitCommit: git.status === 0 ? git.stdout.trim() + (dirty.stdout.trim() ? ' (+uncommitted changes)' : '') : 'unknown',
  };
}


/** Resident set size of a process in bytes (VmRSS), NaN if unreadable. */
/** Resident memory of pid and its descendants. */
export function procRssBytes(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
      else if (p === pid) return NaN;
    } catch {
      if (p === pid) return NaN;
    }
  }
  return sum;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return r3(s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2);
}

export function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
