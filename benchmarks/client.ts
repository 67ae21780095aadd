/**
 * ringloop/client throughput and per-call overhead against `ringloop load`,
 * on the same server, with the same connections and calls in flight
 * (issue 13: the client's calls/s >= 0.5x the load generator's). Rounds
 * alternate load / client so drift hits both. Also the browser bundle's size.
 *
 *   npm run build && node dist/benchmarks/client.js [--rounds N] [--duration S] [--connections N] [--inflight N]
 *
 * Writes benchmarks/results/client-DATE.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as hdr from 'hdr-histogram-js';
import { connect } from '../lib/client';
import { launch, median, ROOT } from './servers/harness';

const BIN = path.join(ROOT, 'bin', 'ringloop.js');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function startServer(): Promise<{ proc: ChildProcess; port: number }> {
  const l = await launch('ringloop', [BIN, 'serve', '--port', '0', '--workers', '1']);
  return { proc: l.proc, port: l.listening.port as number };
}

interface Figures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

function runLoad(port: number, connections: number, inflight: number, duration: number): Promise<Figures> {
  const args = [BIN, 'load', '--url', `ws://127.0.0.1:${port}`, '--connections', String(connections), '--pipeline', String(inflight), '--duration', String(duration), '--warmup', '0.5', '--method', 'echo', '--json', '--quiet'];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`ringloop load exited ${code}`));
      const j = JSON.parse(out) as { requestsPerSecond: number; latencyMs: Record<string, number> };
      resolve({ rps: j.requestsPerSecond, p50Ms: j.latencyMs.p50, p99Ms: j.latencyMs.p99 });
    });
  });
}

/** The same closed loop through the client: `connections` clients, each keeping `inflight` echo calls in flight. */
async function runClient(port: number, connections: number, inflight: number, duration: number): Promise<Figures> {
  const clients = Array.from({ length: connections }, () => connect(`ws://127.0.0.1:${port}`, { maxInFlight: inflight }));
  await Promise.all(clients.map((c) => c.opened()));
  const payload = 'x'.repeat(32);
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let count = 0;
  let measuring = false;
  let running = true;
  const slot = async (c: (typeof clients)[number]): Promise<void> => {
    while (running) {
      const t0 = process.hrtime.bigint();
      await c.call('echo', [payload]);
      if (measuring) {
        count++;
        h.recordValue(Number((process.hrtime.bigint() - t0) / 1000n));
      }
    }
  };
  const loops = clients.flatMap((c) => Array.from({ length: inflight }, () => slot(c)));
  await new Promise((r) => setTimeout(r, 500)); // warm-up, as --warmup 0.5
  measuring = true;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, duration * 1000));
  measuring = false;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const fig = { rps: count / secs, p50Ms: h.getValueAtPercentile(50) / 1000, p99Ms: h.getValueAtPercentile(99) / 1000 };
  running = false;
  await Promise.all(loops);
  await Promise.all(clients.map((c) => c.close()));
  return fig;
}

async function main(): Promise<void> {
  const rounds = arg('--rounds', 3);
  const duration = arg('--duration', 3);
  const connections = arg('--connections', 4);
  const inflight = arg('--inflight', 32);
  const srv = await startServer();
  const shapes = [
    { name: 'throughput', connections, inflight },
    { name: 'latency (1 connection, 1 in flight)', connections: 1, inflight: 1 },
  ];
  const results = [];
  try {
    for (const shape of shapes) {
      const load: Figures[] = [];
      const client: Figures[] = [];
      for (let r = 0; r < rounds; r++) {
        load.push(await runLoad(srv.port, shape.connections, shape.inflight, duration));
        client.push(await runClient(srv.port, shape.connections, shape.inflight, duration));
        process.stderr.write(`${shape.name} round ${r + 1}: load ${load[r].rps.toFixed(0)}/s p50 ${load[r].p50Ms} ms, client ${client[r].rps.toFixed(0)}/s p50 ${client[r].p50Ms} ms\n`);
      }
      const lr = median(load.map((f) => f.rps));
      const cr = median(client.map((f) => f.rps));
      const lp = median(load.map((f) => f.p50Ms));
      const cp = median(client.map((f) => f.p50Ms));
      results.push({ ...shape, load, client, medianLoadRps: lr, medianClientRps: cr, ratio: cr / lr, medianLoadP50Ms: lp, medianClientP50Ms: cp, p50OverheadMs: cp - lp });
    }
  } finally {
    srv.proc.kill('SIGTERM');
  }
  const bundle = fs.readFileSync(path.join(ROOT, 'dist', 'client', 'ringloop-client.js'));
  const out = {
    command: `node dist/benchmarks/client.js ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString(),
    node: process.version,
    server: 'ringloop serve --workers 1 (one reactor), demo echo of a 32-byte string',
    rounds,
    durationS: duration,
    results,
    bundle: { file: 'dist/client/ringloop-client.js', minifiedBytes: bundle.length, gzipBytes: zlib.gzipSync(bundle, { level: 9 }).length },
  };
  const file = path.join(ROOT, 'benchmarks', 'results', `client-${out.date.slice(0, 10)}.json`);
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  for (const r of results) {
    console.log(`${r.name}: client ${r.medianClientRps.toFixed(0)} calls/s vs load ${r.medianLoadRps.toFixed(0)} req/s = ${r.ratio.toFixed(2)}x; p50 ${r.medianClientP50Ms} vs ${r.medianLoadP50Ms} ms (overhead ${(r.p50OverheadMs * 1000).toFixed(0)} us)`);
  }
  console.log(`bundle: ${out.bundle.minifiedBytes} bytes minified, ${out.bundle.gzipBytes} gzipped (${(out.bundle.gzipBytes / 1024).toFixed(1)} KiB)`);
  console.log(`wrote ${path.relative(ROOT, file)}`);
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
