/**
 * Memory per idle WebSocket connection, server side.
 *
 *   npx tsc -p tsconfig.json
 *   node dist/benchmarks/idle-rss.js                 # 5,000 connections, 3 rounds
 *   node dist/benchmarks/idle-rss.js --quick         # 2 rounds
 *
 *   node dist/benchmarks/idle-rss.js --connections 15000 --servers ringloop,uws-msgpackr
 *   ... --servers ringloop,ringloop-base --base ../parent   # a change against a built parent checkout
 *
 * For each server (ringloop, uws-msgpackr for reference, ws-rpc), in
 * alternating order every round: start it, open and close 100 connections
 * (warms the code paths), sample VmRSS, open N idle connections (handshake
 * done by lib/load, nothing sent afterwards), wait 2 s, sample again; bytes
 * per connection = (after − before) / N. Medians over rounds.
 *
 * --settle S takes the baseline S s after the warm-up instead of 1 s, and a
 * third sample S s after opening the connections. Why: a server that runs JS
 * per connection (ringloop's upgrade and open handlers) makes V8 size its heap
 * for the burst of connects, and V8 gives memory back only when its memory
 * reducer runs, seconds after allocation stops; with the 1 s baseline, a
 * reduction during the wait would be credited to the connections. A bare uWS
 * server runs no JS per connection, so its figures agree either way.
 * Writes benchmarks/results/idle-rss-<date>[-quick].json.
 */
import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openIdleConnections } from '../lib/load';
import {
  machineInfo,
  median,
  procRssBytes,
  ROOT,
  serverSpecs,
  startServer,
  stopServer,
} from './servers/harness';

interface Args {
  quick: boolean;
  connections: number;
  rounds: number;
  servers: string[];
  out: string | null;
  pin: boolean;
  settle: number;
  /** Another checkout's bin/ringloop.js, measured as ringloop-base side by side. */
  base: string | null;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { quick: false, connections: 5000, rounds: 3, servers: ['ringloop', 'uws-msgpackr', 'ws-rpc'], out: null, pin: true, settle: 0, base: null };
  let roundsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    switch (k) {
      case '--quick': a.quick = true; break;
      case '--connections': a.connections = Number(v()); break;
      case '--rounds': a.rounds = Number(v()); roundsGiven = true; break;
      case '--servers': a.servers = v().split(','); break;
      case '--out': a.out = v(); break;
      case '--no-pin': a.pin = false; break;
      case '--settle': a.settle = Number(v()); break;
      case '--base': a.base = path.resolve(v(), 'bin', 'ringloop.js'); break;
      default: throw new Error(`unknown argument ${k}`);
    }
  }
  if (a.quick && !roundsGiven) a.rounds = 2;
  return a;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Median of a few RSS samples taken `gapMs` apart. */
async function sampleRss(pid: number, samples = 5, gapMs = 200): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < samples; i++) {
    xs.push(procRssBytes(pid));
    await sleep(gapMs);
  }
  return median(xs);
}

interface Measurement {
  round: number;
  server: string;
  connections: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerConnection: number;
  rssSettledBytes: number;
  bytesPerConnectionSettled: number;
  openAtEnd: number;
  closes: Record<string, number>;
}

async function measure(name: string, n: number, round: number, pin: boolean, settleS: number, base: string | null): Promise<Measurement> {
  const spec = serverSpecs(base).find((s) => s.name === name);
  if (!spec) throw new Error(`unknown server ${name}`);
  const server = await startServer(spec, pin);
  try {
    const url = `ws://127.0.0.1:${server.port}/`;
    // Warm-up: first connections allocate one-off structures (JIT code, pools).
    const warm = await openIdleConnections({ url, count: 100 });
    await sleep(300);
    await warm.close();
    await sleep(1000);
    // --settle S: the baseline too is taken S s after the warm-up (V8 gives start-up memory back
    // meanwhile), so both figures compare settled states; without it, the historical method.
    if (settleS > 0) await sleep(settleS * 1000 - 1000);
    const before = await sampleRss(server.pid);
    const conns = await openIdleConnections({ url, count: n, connectConcurrency: 200 });
    await sleep(2000);
    const after = await sampleRss(server.pid);
    if (settleS > 0) await sleep(Math.max(0, settleS * 1000 - 3000));
    const settled = settleS > 0 ? await sampleRss(server.pid) : after;
    const m: Measurement = {
      round,
      server: name,
      connections: n,
      rssBeforeBytes: before,
      rssAfterBytes: after,
      bytesPerConnection: Math.round((after - before) / n),
      rssSettledBytes: settled,
      bytesPerConnectionSettled: Math.round((settled - before) / n),
      openAtEnd: conns.openCount(),
      closes: conns.closes(),
    };
    await conns.close();
    return m;
  } finally {
    await stopServer(server);
  }
}

function fdLimit(): number {
  try {
    return Number(execSync('ulimit -n', { shell: '/bin/bash', encoding: 'utf8' }).trim());
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const command = `node ${path.relative(ROOT, __filename)} ${process.argv.slice(2).join(' ')}`.trim();
  const limit = fdLimit();
  if (Number.isFinite(limit) && limit < args.connections + 200) {
    throw new Error(`ulimit -n is ${limit}: need at least ${args.connections + 200} descriptors (raise it with ulimit -n)`);
  }
  const notes: string[] = [];
  let servers = args.servers;
  if (servers.includes('ringloop') && !fs.existsSync(path.join(ROOT, 'bin', 'ringloop.js'))) {
    notes.push('ringloop: bin/ringloop.js not found, skipped');
    servers = servers.filter((s) => s !== 'ringloop');
  }
  process.stderr.write(`${command}  (ulimit -n ${limit})\n`);
  const results: Measurement[] = [];
  for (let round = 0; round < args.rounds; round++) {
    const k = round % servers.length;
    const order = [...servers.slice(k), ...servers.slice(0, k)];
    for (const name of order) {
      try {
        const m = await measure(name, args.connections, round, args.pin, args.settle, args.base);
        results.push(m);
        process.stderr.write(
          `round ${round} ${name.padEnd(13)} ${m.bytesPerConnection} B/connection at 2 s, ${m.bytesPerConnectionSettled} B at ${args.settle} s  (RSS ${(m.rssBeforeBytes / 2 ** 20).toFixed(1)} → ${(m.rssAfterBytes / 2 ** 20).toFixed(1)} → ${(m.rssSettledBytes / 2 ** 20).toFixed(1)} MiB, ${m.openAtEnd}/${m.connections} open)\n`,
        );
      } catch (e) {
        notes.push(`round ${round} ${name}: ${(e as Error).message}`);
        process.stderr.write(`${name}: ${(e as Error).message}\n`);
      }
    }
  }
  const goals: Record<string, string> = { ringloop: '<= 1024 B (issue 14)' };
  const summary: Record<string, { bytesPerConnection: number; all: number[]; bytesPerConnectionSettled: number; allSettled: number[]; goal?: string }> = {};
  for (const name of servers) {
    const rs = results.filter((r) => r.server === name);
    const xs = rs.map((r) => r.bytesPerConnection);
    const ys = rs.map((r) => r.bytesPerConnectionSettled);
    if (xs.length) {
      summary[name] = {
        bytesPerConnection: Math.round(median(xs)),
        all: xs,
        bytesPerConnectionSettled: Math.round(median(ys)),
        allSettled: ys,
        ...(goals[name] ? { goal: goals[name] } : {}),
      };
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  const outFile = args.out ?? path.join(ROOT, 'benchmarks', 'results', `idle-rss-${date}${args.quick ? '-quick' : ''}.json`);
  const doc = {
    benchmark: 'idle-rss',
    date: new Date().toISOString(),
    command: `npx tsc -p tsconfig.json && ${command}`,
    machine: machineInfo(),
    setup: {
      connections: args.connections,
      rounds: args.rounds,
      method:
        args.settle > 0
          ? `warm-up 100 connections opened and closed; VmRSS median of 5 samples ${args.settle} s after the warm-up, then 2 s (bytesPerConnection) and ${args.settle} s (bytesPerConnectionSettled) after opening N idle WebSocket connections`
          : 'warm-up 100 connections opened and closed; VmRSS median of 5 samples 1 s after the warm-up and 2 s after opening N idle WebSocket connections',
      ringloopCommand: 'node bin/ringloop.js serve --port 0 --workers 1',
      pinning: args.pin ? 'server taskset -c 0' : 'none',
    },
    notes,
    summary,
    rounds: results,
  };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, JSON.stringify(doc, null, 2) + '\n');
  const settled = args.settle > 0;
  let table = `\n| server | bytes / idle connection at 2 s (median) |${settled ? ` at ${args.settle} s |` : ''} goal |\n|---|---|${settled ? '---|' : ''}---|\n`;
  for (const [name, s] of Object.entries(summary)) {
    table += `| ${name} | ${s.bytesPerConnection} |${settled ? ` ${s.bytesPerConnectionSettled} |` : ''} ${s.goal ?? '–'} |\n`;
  }
  process.stdout.write(`${table}\nwrote ${path.relative(ROOT, outFile)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
