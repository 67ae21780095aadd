/**
 * Pub/sub fan-out, side by side in one run with the same load client
 * (`ringloop load --fanout`): ringloop vs a bare uWS.js `app.publish` server
 * vs a `ws` server broadcasting with a send loop, at 200 and 2,000
 * subscribers and 64-byte and 1 KiB messages. Per run: deliveries/s,
 * delivery latency, and the server's CPU per 100k deliveries (every process
 * of the server: ringloop's supervisor and reactor).
 *
 * `--nats`: two ringloop servers on one nats-server, publisher on A,
 * subscribers on B: delivery latency at 10,000 publications/s, loss, order.
 * `--reactors`: ringloop --reactors 1 vs 2 (subscribers land on both
 * reactors; the publisher's on one), latency p50 side by side.
 * `--saturate`: the most each server delivers (`--rate max`: publications
 * as fast as they are delivered, at most a window in flight, in bursts of 1
 * or 16 per write), in alternated rounds (`--rounds N`, default 3); reports
 * the median deliveries/s and server CPU µs per delivery, and the ratios.
 *
 *   node dist/benchmarks/fanout.js [--quick] [--nats] [--reactors] [--saturate] [--only-nats|--only-reactors|--only-saturate] [--rounds N]
 * Writes benchmarks/results/fanout-DATE[-quick].json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FanoutReport } from '../lib/load/fanout';
import { launch, median, procCpuSeconds, ROOT, stopServer } from './servers/harness';

const BIN = path.join(ROOT, 'bin', 'ringloop.js');
const SERVERS = path.join(__dirname, 'servers');
/** The multi-reactor specs' probe plugin: `probe.pid` names the reactor process a connection reached. */
const PROBE = path.join(ROOT, 'spec', 'fixtures', 'reactor-probe.js');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const only = argv.includes('--only-nats') || argv.includes('--only-reactors') || argv.includes('--only-saturate');
const roundsArg = argv.indexOf('--rounds');
const rounds = roundsArg >= 0 ? Math.max(1, Number(argv[roundsArg + 1]) || 1) : quick ? 1 : 3;

interface Server {
  name: string;
  proc: ChildProcess;
  port: number;
  pid: number;
}

async function start(name: string, args: string[]): Promise<Server> {
  const l = await launch(name, args);
  return { name, proc: l.proc, port: l.listening.port as number, pid: l.pid };
}

function load(args: string[]): Promise<FanoutReport> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, 'load', '--fanout', '--json', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as FanoutReport) : reject(new Error(`load exited ${code}`))));
  });
}

interface Row {
  server: string;
  subscribers: number;
  size: number;
  rate: number;
  deliveriesPerS: number;
  cpuPer100k: number;
  p50: number;
  p99: number;
  missing: number;
  outOfOrder: number;
  closed: Record<string, number>;
}

const servers: Array<[string, string[]]> = [
  ['ringloop', [BIN, 'serve', '--port', '0', '--workers', '1', '--max-backpressure', String(16 * 1024 * 1024)]],
  ['uws-app-publish', [path.join(SERVERS, 'pubsub-uws.js'), '--port', '0']],
  ['ws-send-loop', [path.join(SERVERS, 'pubsub-ws.js'), '--port', '0']],
];

async function fanoutRow(name: string, args: string[], subs: number, size: number, rate: number, duration: number): Promise<Row> {
  const s = await start(name, args);
  try {
    const c0 = procCpuSeconds(s.pid);
    const r = await load(['--url', `ws://127.0.0.1:${s.port}`, '--subscribers', String(subs), '--size', String(size), '--rate', String(rate), '--duration', String(duration), '--warmup', '1']);
    const cpu = procCpuSeconds(s.pid) - c0;
    const deliveries = r.published * subs - r.missing;
    return {
      server: name,
      subscribers: subs,
      size,
      rate,
      deliveriesPerS: r.deliveriesPerS,
      cpuPer100k: Math.round((cpu / Math.max(1, deliveries)) * 100_000 * 1000) / 1000,
      p50: r.latency.p50,
      p99: r.latency.p99,
      missing: r.missing,
      outOfOrder: r.outOfOrder,
      closed: r.closed,
    };
  } finally {
    await stopServer(s);
  }
}

interface SatRow {
  round: number;
  server: string;
  subscribers: number;
  size: number;
  burst: number;
  deliveriesPerS: number;
  publishedPerS: number;
  cpuUsPerDelivery: number;
  missing: number;
  outOfOrder: number;
  closed: Record<string, number>;
  load1: number;
}

/** One closed-loop run: the server is the limit; every delivery checked for order and loss, latency sampled. */
async function saturateRow(round: number, name: string, args: string[], subs: number, size: number, burst: number, duration: number): Promise<SatRow> {
  const s = await start(name, args);
  try {
    const c0 = procCpuSeconds(s.pid);
    const r = await load(['--url', `ws://127.0.0.1:${s.port}`, '--subscribers', String(subs), '--size', String(size), '--rate', 'max', '--burst', String(burst), '--sample', '64', '--duration', String(duration), '--warmup', '1', '--grace', '5']);
    const cpu = procCpuSeconds(s.pid) - c0;
    const deliveries = r.published * subs - r.missing;
    return {
      round,
      server: name,
      subscribers: subs,
      size,
      burst,
      deliveriesPerS: r.deliveriesPerS,
      publishedPerS: r.publishedPerS,
      cpuUsPerDelivery: Math.round((cpu / Math.max(1, deliveries)) * 1e6 * 1000) / 1000,
      missing: r.missing,
      outOfOrder: r.outOfOrder,
      closed: r.closed,
      load1: os.loadavg()[0]!,
    };
  } finally {
    await stopServer(s);
  }
}

async function saturateRuns(duration: number): Promise<{ rows: SatRow[]; summary: Array<Record<string, unknown>> }> {
  const configs: Array<[number, number, number]> = [
    [200, 64, 1],
    [200, 64, 16],
    [2000, 64, 1],
    [2000, 64, 16],
  ];
  const rows: SatRow[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const [subs, size, burst] of configs) {
      for (const [name, args] of servers) {
        const row = await saturateRow(round, name, args, subs, size, burst, duration);
        rows.push(row);
        process.stderr.write(`${JSON.stringify(row)}\n`);
      }
    }
  }
  const summary = configs.map(([subs, size, burst]) => {
    const of = (n: string): SatRow[] => rows.filter((r) => r.server === n && r.subscribers === subs && r.size === size && r.burst === burst);
    const med = (n: string, k: 'deliveriesPerS' | 'cpuUsPerDelivery'): number => median(of(n).map((r) => r[k]));
    const rl = med('ringloop', 'deliveriesPerS');
    const ratio = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 100) / 100 : null);
    return {
      subscribers: subs,
      size,
      burst,
      deliveriesPerS: Object.fromEntries(servers.map(([n]) => [n, med(n, 'deliveriesPerS')])),
      cpuUsPerDelivery: Object.fromEntries(servers.map(([n]) => [n, med(n, 'cpuUsPerDelivery')])),
      ringloopVsWs: ratio(rl, med('ws-send-loop', 'deliveriesPerS')),
      ringloopVsUws: ratio(rl, med('uws-app-publish', 'deliveriesPerS')),
      wsCpuVsRingloop: ratio(med('ws-send-loop', 'cpuUsPerDelivery'), med('ringloop', 'cpuUsPerDelivery')),
      missing: rows.filter((r) => r.subscribers === subs && r.burst === burst).reduce((a, r) => a + r.missing + r.outOfOrder, 0),
      load1: [Math.min(...of('ringloop').map((r) => r.load1)), Math.max(...rows.filter((r) => r.subscribers === subs && r.burst === burst).map((r) => r.load1))],
    };
  });
  return { rows, summary };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

/** Subscribers on server B (`--nats-subscribers N`, default 10): 10 makes B deliver 100k messages/s. */
const natsSubscribers = argv.indexOf('--nats-subscribers') >= 0 ? Number(argv[argv.indexOf('--nats-subscribers') + 1]) : 10;

async function natsRun(duration: number): Promise<Record<string, unknown>> {
  const natsPort = await freePort();
  const nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(natsPort)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const url = `nats://127.0.0.1:${natsPort}`;
  const a = await start('ringloop-A', [BIN, 'serve', '--port', '0', '--workers', '1', '--nats', url]);
  const b = await start('ringloop-B', [BIN, 'serve', '--port', '0', '--workers', '1', '--nats', url]);
  try {
    await new Promise((r) => setTimeout(r, 500));
    const r = await load(['--url', `ws://127.0.0.1:${b.port}`, '--pub-url', `ws://127.0.0.1:${a.port}`, '--subscribers', String(natsSubscribers), '--size', '64', '--rate', '10000', '--duration', String(duration), '--warmup', '1']);
    return { publisherOn: 'A', subscribersOn: 'B', ...r };
  } finally {
    await stopServer(a);
    await stopServer(b);
    nats.kill('SIGKILL');
  }
}

async function reactorsRun(duration: number): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const n of [1, 2]) {
    const s = await start(`ringloop --reactors ${n}`, [BIN, 'serve', '--port', '0', '--workers', '1', '--reactors', String(n), '--plugin', 'demo', '--plugin', PROBE]);
    try {
      const r = await load(['--url', `ws://127.0.0.1:${s.port}`, '--subscribers', '20', '--size', '64', '--rate', '2000', '--duration', String(duration), '--warmup', '1', '--group-by', 'probe.pid']);
      const g = r.groups!;
      out.push({
        reactors: n,
        subscribers: 20,
        rate: 2000,
        p50: r.latency.p50,
        p99: r.latency.p99,
        sameReactor: { subscribers: g.same.subscribers, p50: g.same.p50, p99: g.same.p99 },
        otherReactor: { subscribers: g.other.subscribers, p50: g.other.p50, p99: g.other.p99 },
        addedAtP50Us: g.other.count > 0 && g.same.count > 0 ? Math.round((g.other.p50 - g.same.p50) * 1000) : null,
        missing: r.missing,
        outOfOrder: r.outOfOrder,
      });
    } finally {
      await stopServer(s);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const duration = quick ? 2 : 4;
  const rows: Row[] = [];
  if (!only) {
    // Offered load ~100k deliveries/s in every configuration (what the shared 2-core machine's one client process sustains).
    const configs: Array<[number, number, number]> = [
      [200, 64, 500],
      [200, 1024, 500],
      [2000, 64, 50],
      [2000, 1024, 50],
    ];
    for (const [subs, size, rate] of configs) {
      for (const [name, args] of servers) {
        const row = await fanoutRow(name, args, subs, size, rate, duration);
        rows.push(row);
        process.stderr.write(`${JSON.stringify(row)}\n`);
      }
    }
  }
  const sat = argv.includes('--saturate') || argv.includes('--only-saturate') ? await saturateRuns(quick ? 2 : 3) : null;
  const natsResult = argv.includes('--nats') || argv.includes('--only-nats') ? await natsRun(duration) : null;
  const reactorsResult = argv.includes('--reactors') || argv.includes('--only-reactors') ? await reactorsRun(duration) : null;
  const ratios = rows
    .filter((r) => r.server === 'ringloop')
    .map((r) => {
      const of = (n: string): Row | undefined => rows.find((x) => x.server === n && x.subscribers === r.subscribers && x.size === r.size);
      const u = of('uws-app-publish');
      const w = of('ws-send-loop');
      return {
        subscribers: r.subscribers,
        size: r.size,
        deliveriesVsUws: u ? Math.round((r.deliveriesPerS / u.deliveriesPerS) * 100) / 100 : null,
        cpuPerDeliveryVsUws: u ? Math.round((r.cpuPer100k / u.cpuPer100k) * 100) / 100 : null,
        deliveriesVsWs: w ? Math.round((r.deliveriesPerS / w.deliveriesPerS) * 100) / 100 : null,
        cpuPerDeliveryVsWs: w ? Math.round((r.cpuPer100k / w.cpuPer100k) * 100) / 100 : null,
      };
    });
  const result = {
    command: `node dist/benchmarks/fanout.js ${argv.join(' ')}`.trim(),
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, load: os.loadavg(), node: process.versions.node },
    rows,
    ratios,
    saturate: sat,
    nats: natsResult,
    reactors: reactorsResult,
  };
  // A single section (--only-X) gets its own file per run: fanout-X-DATE-HHMMSS.json.
  const section = ['nats', 'reactors', 'saturate'].find((x) => argv.includes(`--only-${x}`));
  const stamp = section === undefined ? result.date.slice(0, 10) : `${section}-${result.date.slice(0, 10)}-${result.date.slice(11, 19).replace(/:/g, '')}`;
  const file = path.join(ROOT, 'benchmarks', 'results', `fanout-${stamp}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.table(rows.map(({ closed: _c, ...r }) => r));
  console.table(ratios);
  if (sat) console.table(sat.summary.map((r) => ({ ...r, deliveriesPerS: JSON.stringify(r.deliveriesPerS), cpuUsPerDelivery: JSON.stringify(r.cpuUsPerDelivery), load1: JSON.stringify(r.load1) })));
  if (natsResult) console.log('nats', JSON.stringify(natsResult));
  if (reactorsResult) for (const r of reactorsResult) console.log('reactors', JSON.stringify(r));
  console.log(`wrote ${path.relative(ROOT, file)}`);
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
