/**
 * End-to-end echo benchmark: ringloop against baseline servers, measured side
 * by side in alternating rounds.
 *
 *   npx tsc -p tsconfig.json
 *   node dist/benchmarks/e2e-echo.js            # 3 rounds, 2 s warm-up + 4 s measured each
 *   node dist/benchmarks/e2e-echo.js --quick    # 2 rounds, 1 s + 2 s
 *   node dist/benchmarks/e2e-echo.js --servers ringloop,uws-msgpackr --base ../old   # a change against a built older checkout
 *
 * Each server runs in its own process (pinned to CPU 0 with taskset when it
 * exists), the load client in another (pinned to CPU 1), 8 connections × 32
 * frames in flight, 1 and 16 requests per frame, `echo` of a 32-byte string.
 * Servers: ringloop over WebSocket and over TCP, bare uWS + msgpackr, the raw
 * uWS echo ceiling, the same RPC server on `ws`. Rounds alternate the server
 * order; the report gives medians and the median of per-round ratios, each
 * with its goal (issue 5: ringloop ≥ 5 × ws-rpc; TCP ≥ 0.5 × WebSocket).
 * Writes benchmarks/results/e2e-echo-<date>[-quick].json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadOptions, LoadReport } from '../lib/load';
import { runLoadChild, type ChildResult } from './servers/load-child';
import {
  hasTaskset,
  machineInfo,
  median,
  r3,
  ROOT,
  serverSpecs,
  startServer,
  stopServer,
  type RunningServer,
} from './servers/harness';

const SRC_RESULTS = path.join(ROOT, 'benchmarks', 'results');

interface Args {
  quick: boolean;
  rounds: number;
  warmupS: number;
  durationS: number;
  servers: string[];
  batches: number[];
  connections: number;
  pipeline: number;
  payloadBytes: number;
  pin: boolean;
  out: string | null;
  /** --base DIR: that checkout's ringloop runs too, as `ringloop-base`. */
  base: string | null;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    quick: false,
    rounds: 3,
    warmupS: 2,
    durationS: 4,
    servers: ['ringloop', 'ringloop-tcp', 'uws-msgpackr', 'raw-uws-echo', 'ws-rpc'],
    batches: [1, 16],
    connections: 8,
    pipeline: 32,
    payloadBytes: 32,
    pin: true,
    out: null,
    base: null,
  };
  const explicit = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      explicit.add(k);
      return x;
    };
    switch (k) {
      case '--quick': a.quick = true; break;
      case '--rounds': a.rounds = Number(v()); break;
      case '--warmup': a.warmupS = Number(v()); break;
      case '--duration': a.durationS = Number(v()); break;
      case '--servers': a.servers = v().split(','); break;
      case '--batches': a.batches = v().split(',').map(Number); break;
      case '--connections': a.connections = Number(v()); break;
      case '--pipeline': a.pipeline = Number(v()); break;
      case '--payload': a.payloadBytes = Number(v()); break;
      case '--no-pin': a.pin = false; break;
      case '--out': a.out = v(); break;
      case '--base': a.base = path.resolve(v(), 'bin', 'ringloop.js'); break;
      default: throw new Error(`unknown argument ${k}`);
    }
  }
  if (a.quick) {
    if (!explicit.has('--rounds')) a.rounds = 2;
    if (!explicit.has('--warmup')) a.warmupS = 1;
    if (!explicit.has('--duration')) a.durationS = 2;
  }
  if (a.base !== null && !a.servers.includes('ringloop-base')) a.servers.push('ringloop-base');
  return a;
}

interface ServerSummary {
  rounds: number;
  requestsPerSecond: number;
  requestsPerSecondAll: number[];
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  serverCpu: number;
  perServerCpuSecond: number;
  clientCpu: number;
  /** Rounds in which the load client reported itself saturated: req/s is then a lower bound. */
  clientSaturatedRounds: number;
}

interface RatioSummary {
  /** Median over rounds of ringloop req/s ÷ other req/s in the same round. */
  medianOfRoundRatios: number;
  ratioOfMedians: number;
  /** Median over rounds of the ratio of requests per server CPU-second. */
  perServerCpuSecondRatio: number;
  roundRatios: number[];
  goal: string;
  /** The numeric goal for medianOfRoundRatios (at least), when there is one. */
  goalAtLeast: number | null;
  goalMet: boolean | null;
}

interface RoundResult {
  round: number;
  server: string;
  batch: number;
  requestsPerSecond: number;
  latencyMs: LoadReport['latencyMs'];
  /** Server CPU use during the measured window, in cores (1.0 = one core saturated). */
  serverCpu: number;
  /** Requests answered per server CPU-second (efficiency; less sensitive to noisy neighbours than req/s). */
  perServerCpuSecond: number;
  /** Load client CPU use, in cores. */
  clientCpu: number;
  errors: Record<string, number>;
  unexpected: number;
  unanswered: number;
  mismatches: number;
  droppedConnections: number;
  protocolErrors: number;
  clientSaturated: boolean;
  clientEventLoopUtilization: number;
}

function fmtRate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : `${Math.round(x / 1000)} k/s`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const specs = serverSpecs(args.base).filter((s) => args.servers.includes(s.name));
  const unknown = args.servers.filter((n) => !specs.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown server(s): ${unknown.join(', ')}`);
  const notes: string[] = [];
  const available = specs.filter((s) => {
    if (s.name.startsWith('ringloop') && !fs.existsSync(s.argv[0]!)) {
      notes.push(`${s.name}: bin/ringloop.js not found, skipped`);
      return false;
    }
    return true;
  });
  if (!hasTaskset && args.pin) notes.push('taskset not found: processes not pinned');
  const command = `node ${path.relative(ROOT, __filename)} ${process.argv.slice(2).join(' ')}`.trim();
  process.stderr.write(`${command}\n${notes.join('\n')}${notes.length ? '\n' : ''}`);

  const running: RunningServer[] = [];
  const results: RoundResult[] = [];
  try {
    for (const spec of available) {
      try {
        running.push(await startServer(spec, args.pin));
      } catch (e) {
        notes.push(`${spec.name}: ${(e as Error).message}`);
        process.stderr.write(`${(e as Error).message}\n`);
      }
    }
    for (let round = 0; round < args.rounds; round++) {
      for (const batch of args.batches) {
        // Rotate the order every round (and per batch) so no server always goes first.
        const k = (round + batch) % running.length;
        const order = [...running.slice(k), ...running.slice(0, k)];
        for (const s of order) {
          if (s.proc.exitCode !== null || s.proc.signalCode !== null) continue;
          const opts: LoadOptions = {
            url: `${s.spec.transport}://127.0.0.1:${s.port}`,
            connections: args.connections,
            pipeline: args.pipeline,
            batch,
            warmupS: args.warmupS,
            durationS: args.durationS,
            payloadBytes: args.payloadBytes,
            payloadType: 'str',
            rawEcho: s.spec.rawEcho,
            drainTimeoutMs: 1000,
          };
          let child: ChildResult;
          try {
            child = await runLoadChild({ opts, serverPid: s.pid }, args.pin);
          } catch (e) {
            notes.push(`round ${round} ${s.spec.name} batch ${batch}: ${(e as Error).message}`);
            process.stderr.write(`${(e as Error).message}\n`);
            continue;
          }
          const r = child.report;
          const serverCpu = r3(child.serverCpuSeconds / r.durationS);
          // Requests answered per CPU-second the server used: robust to CPU stolen by other processes.
          const perServerCpuSecond = child.serverCpuSeconds > 0 ? Math.round(r.responses / child.serverCpuSeconds) : NaN;
          const rr: RoundResult = {
            round,
            server: s.spec.name,
            batch,
            requestsPerSecond: r.requestsPerSecond,
            latencyMs: r.latencyMs,
            serverCpu,
            perServerCpuSecond,
            clientCpu: child.clientCpu,
            errors: r.errors,
            unexpected: r.unexpected,
            unanswered: r.unanswered,
            mismatches: r.mismatches,
            droppedConnections: r.droppedConnections,
            protocolErrors: r.protocolErrors,
            clientSaturated: r.client.saturated,
            clientEventLoopUtilization: r.client.eventLoopUtilization[0] ?? NaN,
          };
          results.push(rr);
          process.stderr.write(
            `round ${round} batch ${String(batch).padStart(2)} ${s.spec.name.padEnd(13)} ${fmtRate(r.requestsPerSecond).padStart(10)}` +
              `  p50 ${r.latencyMs.p50} ms  p99 ${r.latencyMs.p99} ms  server ${serverCpu} cores (${fmtRate(perServerCpuSecond)} per CPU-s)  client ${child.clientCpu}` +
              `${r.client.saturated ? ' (client saturated)' : ''}` +
              `${Object.keys(r.errors).length ? '  errors ' + JSON.stringify(r.errors) : ''}${r.unanswered ? '  unanswered ' + r.unanswered : ''}\n`,
          );
        }
      }
    }
  } finally {
    await Promise.all(running.map(stopServer));
  }

  // Summaries.
  const names = running.map((s) => s.spec.name);
  const summary: Record<string, Record<string, ServerSummary>> = {};
  for (const batch of args.batches) {
    const per: Record<string, ServerSummary> = {};
    for (const n of names) {
      const rs = results.filter((r) => r.server === n && r.batch === batch);
      if (!rs.length) continue;
      per[n] = {
        rounds: rs.length,
        requestsPerSecond: Math.round(median(rs.map((r) => r.requestsPerSecond))),
        requestsPerSecondAll: rs.map((r) => r.requestsPerSecond),
        p50Ms: median(rs.map((r) => r.latencyMs.p50)),
        p90Ms: median(rs.map((r) => r.latencyMs.p90)),
        p99Ms: median(rs.map((r) => r.latencyMs.p99)),
        p999Ms: median(rs.map((r) => r.latencyMs.p999)),
        maxMs: median(rs.map((r) => r.latencyMs.max)),
        serverCpu: median(rs.map((r) => r.serverCpu)),
        perServerCpuSecond: Math.round(median(rs.map((r) => r.perServerCpuSecond))),
        clientCpu: median(rs.map((r) => r.clientCpu)),
        clientSaturatedRounds: rs.filter((r) => r.clientSaturated).length,
      };
    }
    summary[`batch${batch}`] = per;
  }
  const ratios: Record<string, Record<string, RatioSummary>> = {};
  const goals: Record<string, [string, number | null]> = {
    'uws-msgpackr': ['≥ 0.75 (aim 0.9)', 0.75],
    'raw-uws-echo': ['ceiling (no goal)', null],
    'ws-rpc': ['≥ 5 (issue 5)', 5],
  };
  const main = names.includes('ringloop') ? 'ringloop' : null;
  if (main) {
    for (const batch of args.batches) {
      const per: Record<string, RatioSummary> = {};
      for (const other of names) {
        // ringloop-tcp is the same server: its comparison is tcpVsWs below.
        if (other === main || other === 'ringloop-tcp') continue;
        const rr: number[] = [];
        const er: number[] = [];
        for (let round = 0; round < args.rounds; round++) {
          const a = results.find((r) => r.server === main && r.batch === batch && r.round === round);
          const b = results.find((r) => r.server === other && r.batch === batch && r.round === round);
          if (a && b && b.requestsPerSecond > 0) rr.push(a.requestsPerSecond / b.requestsPerSecond);
          if (a && b && b.perServerCpuSecond > 0) er.push(a.perServerCpuSecond / b.perServerCpuSecond);
        }
        const sa = summary[`batch${batch}`]![main];
        const sb = summary[`batch${batch}`]![other];
        const [goal, goalAtLeast] = goals[other] ?? ['', null];
        per[`${main}/${other}`] = {
          medianOfRoundRatios: median(rr),
          ratioOfMedians: sa && sb ? r3(sa.requestsPerSecond / sb.requestsPerSecond) : NaN,
          perServerCpuSecondRatio: median(er),
          roundRatios: rr.map(r3),
          goal,
          goalAtLeast,
          goalMet: goalAtLeast === null || rr.length === 0 ? null : median(rr) >= goalAtLeast,
        };
      }
      ratios[`batch${batch}`] = per;
    }
  }
  // TCP vs WebSocket: the same ringloop process settings, loaded over each transport in the same rounds.
  const tcpVsWs: Record<string, { medianOfRoundRatios: number; roundRatios: number[]; goal: string; goalMet: boolean | null }> = {};
  if (names.includes('ringloop') && names.includes('ringloop-tcp')) {
    for (const batch of args.batches) {
      const rr: number[] = [];
      for (let round = 0; round < args.rounds; round++) {
        const ws = results.find((r) => r.server === 'ringloop' && r.batch === batch && r.round === round);
        const tcp = results.find((r) => r.server === 'ringloop-tcp' && r.batch === batch && r.round === round);
        if (ws && tcp && ws.requestsPerSecond > 0) rr.push(tcp.requestsPerSecond / ws.requestsPerSecond);
      }
      tcpVsWs[`batch${batch}`] = {
        medianOfRoundRatios: median(rr),
        roundRatios: rr.map(r3),
        goal: 'TCP ≥ 0.5 × WebSocket (issue 4)',
        goalMet: rr.length ? median(rr) >= 0.5 : null,
      };
    }
  }

  const date = new Date().toISOString().slice(0, 10);
  const outFile = args.out ?? path.join(SRC_RESULTS, `e2e-echo-${date}${args.quick ? '-quick' : ''}.json`);
  const doc = {
    benchmark: 'e2e-echo',
    date: new Date().toISOString(),
    command: `npx tsc -p tsconfig.json && ${command}`,
    machine: machineInfo(),
    setup: {
      connections: args.connections,
      pipeline: args.pipeline,
      batches: args.batches,
      method: 'echo',
      payload: `${args.payloadBytes}-byte str`,
      warmupS: args.warmupS,
      durationS: args.durationS,
      rounds: args.rounds,
      pinning: args.pin && hasTaskset ? 'servers taskset -c 0, load client taskset -c 1' : 'none',
      ringloopCommand: 'node bin/ringloop.js serve --port 0 --workers 1',
    },
    notes,
    summary,
    ratios,
    tcpVsWs,
    rounds: results,
  };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, JSON.stringify(doc, null, 2) + '\n');

  // Human table.
  let table =
    '\n| server | batch | req/s (median) | p50 ms | p99 ms | p99.9 ms | server CPU (cores) | req per server CPU-s | client CPU |\n' +
    '|---|---|---|---|---|---|---|---|---|\n';
  for (const batch of args.batches) {
    for (const n of names) {
      const s = summary[`batch${batch}`]![n];
      if (!s) continue;
      const bound = s.clientSaturatedRounds > s.rounds / 2 ? ' (client-bound)' : '';
      table += `| ${n} | ${batch} | ${fmtRate(s.requestsPerSecond)}${bound} | ${s.p50Ms} | ${s.p99Ms} | ${s.p999Ms} | ${s.serverCpu} | ${fmtRate(s.perServerCpuSecond)} | ${s.clientCpu} |\n`;
    }
  }
  for (const [b, per] of Object.entries(ratios)) {
    for (const [k, v] of Object.entries(per)) {
      table +=
        `\n${b} ${k}: ${v.medianOfRoundRatios} median of round ratios (${v.ratioOfMedians} ratio of medians; ` +
        `${v.perServerCpuSecondRatio} per server CPU-s)${v.goal ? '; goal ' + v.goal : ''}${v.goalMet === null ? '' : v.goalMet ? ' MET' : ' NOT MET'}`;
    }
  }
  for (const [b, v] of Object.entries(tcpVsWs)) {
    table += `\n${b} ringloop-tcp/ringloop: ${v.medianOfRoundRatios} median of round ratios; goal ${v.goal}${v.goalMet === null ? '' : v.goalMet ? ' MET' : ' NOT MET'}`;
  }
  process.stdout.write(`${table}\n\nwrote ${path.relative(ROOT, outFile)}\n`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
