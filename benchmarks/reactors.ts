/**
 * Many reactors and hot restart (issue 11), side by side in one run:
 *
 *   npx tsc -p tsconfig.json && node dist/benchmarks/reactors.js [--quick] [--out FILE]
 *
 * 1. `spin [200]` (200 µs of reactor CPU per request, not offloaded):
 *    `--reactors 2` vs `--reactors 1`, rounds alternated, load in its own
 *    process (16 connections x 4 in flight). Goal: >= 1.8x.
 * 2. Echo (32-byte string, 8 connections x 32 in flight), 2 vs 1 reactors.
 *    The load client shares the machine's two cores with the reactors, so
 *    this says what a second reactor costs or brings when the client takes a
 *    core, not what it brings on a bigger machine.
 * 3. Spread: 200 WebSocket and 200 TCP connections opened at once against
 *    `--reactors 2`; connections per reactor from ringloop_reactor_connections.
 * 4. SIGHUP under load: 8 clients that follow goaway (2 echo requests in
 *    flight each) and 2 churn loops (a new connection per request, back to
 *    back: the accept-queue race) while the server reloads R times, with
 *    net.ipv4.tcp_migrate_req = 0 and = 1 (set as root, restored after):
 *    failed requests, refused/reset connects, the longest answer (p100)
 *    across the switches, and SIGHUP → "reload complete" time.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import WebSocket from 'ws';
import { runLoadChild } from './servers/load-child';
import { launch, machineInfo, median, ROOT, stopServer, type Launched } from './servers/harness';
import { decodeAny, encodeRequest } from '../lib/protocol/codec';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outArg = args.indexOf('--out') >= 0 ? args[args.indexOf('--out') + 1] : undefined;
const ROUNDS = quick ? 2 : 6;
const SECONDS = quick ? 2 : 4;
const RELOADS = quick ? 4 : 10;
const BIN = path.join(ROOT, 'bin', 'ringloop.js');
const MIGRATE = '/proc/sys/net/ipv4/tcp_migrate_req';

interface Server extends Launched {
  port: number;
  tcpPort: number | null;
}

async function startServer(extra: string[]): Promise<Server> {
  const l = await launch('ringloop', [BIN, 'serve', '--port', '0', '--workers', '1', ...extra]);
  return { ...l, port: l.listening.port as number, tcpPort: (l.listening.tcpPort as number | null) ?? null };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function throughput(reactors: number, method: string, params: unknown[] | undefined, connections: number, pipeline: number): Promise<number> {
  const s = await startServer(['--reactors', String(reactors)]);
  try {
    const r = await runLoadChild({ opts: { url: `ws://127.0.0.1:${s.port}`, connections, pipeline, durationS: SECONDS, warmupS: 0.5, method, params }, serverPid: s.proc.pid! }, false);
    const errors = Object.values(r.report.errors).reduce((a, b) => a + b, 0);
    if (errors > 0) throw new Error(`${method}: ${errors} errors`);
    return r.report.requestsPerSecond;
  } finally {
    await stopServer(s);
  }
}

async function spread(): Promise<Record<string, number[]>> {
  const s = await startServer(['--reactors', '2', '--tcp-port', '0']);
  const socks: Array<{ close(): void }> = [];
  const perReactor = async (): Promise<number[]> => {
    const text = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith('ringloop_reactor_connections{')).map((l) => Number(l.split(' ')[1]));
  };
  try {
    await Promise.all(Array.from({ length: 200 }, () => new Promise<void>((res, rej) => {
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}`);
      ws.once('open', () => res());
      ws.once('error', rej);
      socks.push({ close: () => ws.terminate() });
    })));
    await sleep(200);
    const ws = await perReactor();
    for (const x of socks.splice(0)) x.close();
    await sleep(300);
    await Promise.all(Array.from({ length: 200 }, () => new Promise<void>((res, rej) => {
      const c = net.connect({ host: '127.0.0.1', port: s.tcpPort! }, () => res());
      c.once('error', rej);
      socks.push({ close: () => c.destroy() });
    })));
    await sleep(300);
    const tcp = await perReactor();
    for (const x of socks.splice(0)) x.close();
    return { ws, tcp };
  } finally {
    await stopServer(s);
  }
}

interface ReloadFigures {
  migrate: number;
  reloads: number;
  requestsOk: number;
  failed: number;
  refusedOrReset: number;
  /** A churn client opening a new connection for each request, back to back, through the reloads. */
  churnConnections: number;
  /** Of those, refused or reset before their answer (the accept-queue race). */
  churnFailed: number;
  switches: number;
  p100Ms: number;
  p99Ms: number;
  reloadMs: number[];
}

/** Clients that follow goaway, as CONTRACT.md asks, while the server reloads. */
async function throughReloads(migrate: number): Promise<ReloadFigures> {
  const s = await startServer(['--reactors', '2', '--drain-timeout', '5']);
  const url = `ws://127.0.0.1:${s.port}`;
  const f: ReloadFigures = { migrate, reloads: RELOADS, requestsOk: 0, failed: 0, refusedOrReset: 0, churnConnections: 0, churnFailed: 0, switches: 0, p100Ms: 0, p99Ms: 0, reloadMs: [] };
  const lat: number[] = [];
  let stopping = false;
  const open = async (): Promise<WebSocket> => {
    for (;;) {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const ok = await new Promise<boolean>((res) => {
        ws.once('open', () => res(true));
        ws.once('error', () => res(false));
      });
      if (ok) return ws;
      f.refusedOrReset++;
      await sleep(5);
    }
  };
  const client = async (): Promise<void> => {
    let id = 1;
    let ws = await open();
    let goaway = false;
    const pending = new Map<number, number>();
    const wire = (w: WebSocket): void => {
      w.on('message', (d: Buffer) => {
        for (const m of decodeAny(d) as unknown[][]) {
          if (m[0] === 2) {
            if (w === ws) goaway = true;
            continue;
          }
          const t0 = pending.get(m[1] as number);
          if (t0 === undefined) continue;
          pending.delete(m[1] as number);
          if (m[2] !== null) f.failed++;
          else f.requestsOk++;
          lat.push(performance.now() - t0);
        }
      });
      w.on('error', () => undefined);
    };
    wire(ws);
    while (!stopping) {
      if (goaway) {
        goaway = false;
        const old = ws;
        ws = await open();
        wire(ws);
        f.switches++;
        const waitOld = (): void => void (pending.size === 0 ? old.close() : setTimeout(waitOld, 5));
        waitOld();
      }
      if (pending.size < 2) {
        const msgid = id++;
        pending.set(msgid, performance.now());
        ws.send(encodeRequest(msgid, 'echo', ['x'.repeat(32)]));
      } else await sleep(0);
    }
    while (pending.size > 0) await sleep(5);
    ws.close();
  };
  // New connections arriving all the time, as from many short-lived clients: each one request, then close.
  const churn = async (): Promise<void> => {
    while (!stopping) {
      f.churnConnections++;
      const ok = await new Promise<boolean>((res) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.once('open', () => ws.send(encodeRequest(1, 'echo', ['c'])));
        ws.once('message', () => {
          ws.close();
          res(true);
        });
        ws.once('error', () => res(false));
        ws.once('close', () => res(false));
      });
      if (!ok) f.churnFailed++;
    }
  };
  const clients = [...Array.from({ length: 8 }, () => client()), churn(), churn()];
  for (let i = 1; i <= RELOADS; i++) {
    await sleep(300);
    s.proc.kill('SIGHUP');
    const end = Date.now() + 10_000;
    while (s.logs.filter((l) => l.msg === 'reload complete').length < i && Date.now() < end) await sleep(10);
  }
  await sleep(300);
  stopping = true;
  await Promise.all(clients);
  await stopServer(s);
  f.reloadMs = s.logs.filter((l) => l.msg === 'reload complete').map((l) => l.ms as number);
  lat.sort((a, b) => a - b);
  f.p100Ms = Math.round(lat[lat.length - 1] * 100) / 100;
  f.p99Ms = Math.round(lat[Math.floor(lat.length * 0.99)] * 100) / 100;
  return f;
}

function medianRatio(r: Record<string, number[]>): number {
  return Math.round(median(r['2'].map((v, i) => v / r['1'][i])) * 100) / 100;
}

async function main(): Promise<void> {
  const spin: Record<string, number[]> = { '1': [], '2': [] };
  const echo: Record<string, number[]> = { '1': [], '2': [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of r % 2 === 0 ? [1, 2] : [2, 1]) {
      spin[n].push(Math.round(await throughput(n, 'spin', [200], 16, 4)));
      echo[n].push(Math.round(await throughput(n, 'echo', undefined, 8, 32)));
      process.stderr.write(`round ${r + 1} reactors ${n}: spin ${spin[n].at(-1)} req/s, echo ${echo[n].at(-1)} req/s\n`);
    }
  }
  const sp = await spread();
  process.stderr.write(`spread ws ${sp.ws} tcp ${sp.tcp}\n`);
  let before: string | null = null;
  try {
    before = fs.readFileSync(MIGRATE, 'utf8').trim();
  } catch {
    /* not Linux */
  }
  const reloads: ReloadFigures[] = [];
  for (const m of [0, 1]) {
    try {
      fs.writeFileSync(MIGRATE, String(m));
    } catch {
      if (String(m) !== before) continue; // cannot set it (not root): measure only the current setting
    }
    reloads.push(await throughReloads(m));
    process.stderr.write(`reloads with tcp_migrate_req=${m}: ${JSON.stringify(reloads.at(-1))}\n`);
  }
  if (before !== null) {
    try {
      fs.writeFileSync(MIGRATE, before);
    } catch {
      /* unchanged */
    }
  }
  const result = {
    suite: 'reactors',
    command: `node dist/benchmarks/reactors.js${quick ? ' --quick' : ''}`,
    machine: machineInfo(),
    // Each round runs 1 and 2 back to back: the median of per-round ratios resists a noisy neighbour better.
    spin200: { reactors1: spin['1'], reactors2: spin['2'], ratio: Math.round((median(spin['2']) / median(spin['1'])) * 100) / 100, medianRoundRatio: medianRatio(spin) },
    echo: { reactors1: echo['1'], reactors2: echo['2'], ratio: Math.round((median(echo['2']) / median(echo['1'])) * 100) / 100, medianRoundRatio: medianRatio(echo) },
    spread: sp,
    reloads,
  };
  const out = outArg ?? path.join(ROOT, 'benchmarks', 'results', `reactors-${new Date().toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`${JSON.stringify({ spin200: result.spin200, echo: result.echo, spread: sp, reloads }, null, 2)}\n`);
}

void main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
