/**
 * Latency under a steady load: p99 at half of peak throughput, open loop
 * (issue 5 goal: ≤ 2 ms), and at a quarter and three quarters for the curve.
 *
 *   npx tsc -p tsconfig.json
 *   node dist/benchmarks/latency.js            # 3 rounds; each: peak (1 s + 3 s), then 25/50/75 % (1 s + 4 s each)
 *   node dist/benchmarks/latency.js --quick    # 2 rounds, shorter
 *   # options: --rounds N --fractions 0.25,0.5,0.75 --ref-fractions 0.5 --warmup S --duration S --peak-duration S
 *   #          --servers ringloop,uws-msgpackr --connections 8 --pipeline 32 --no-pin --out FILE
 *   #          --base DIR (another built checkout, as ringloop-base: add it to --servers)
 *
 * Per server and round: a closed-loop run at 8 connections × 32 in flight,
 * 1 request per frame (echo, 32-byte string) gives the peak P of that round;
 * then open-loop runs at f × P for each fraction f (order rotating), each
 * request's latency counted from its due time, so queueing is not hidden.
 * The first server (ringloop) gets every fraction; the others (bare uWS +
 * msgpackr by default) only --ref-fractions, as a control in the same rounds:
 * a tail that the bare server shows too comes from the machine, not from
 * ringloop. Server on CPU 0, load client on CPU 1, as in e2e-echo. Medians
 * over rounds (and the best round, since one stall of 1 % of a window is
 * enough to move a p99).
 * Writes benchmarks/results/latency-<date>[-quick].json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadOptions } from '../lib/load';
import { runLoadChild } from './servers/load-child';
import { hasTaskset, machineInfo, median, ROOT, serverSpecs, startServer, stopServer, type RunningServer } from './servers/harness';

interface Args {
  quick: boolean;
  rounds: number;
  fractions: number[];
  refFractions: number[];
  warmupS: number;
  durationS: number;
  peakDurationS: number;
  servers: string[];
  connections: number;
  pipeline: number;
  pin: boolean;
  out: string | null;
  /** --base DIR: that checkout's ringloop runs too, as `ringloop-base` (control fractions). */
  base: string | null;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    quick: false,
    rounds: 3,
    fractions: [0.25, 0.5, 0.75],
    refFractions: [0.5],
    warmupS: 1,
    durationS: 4,
    peakDurationS: 3,
    servers: ['ringloop', 'uws-msgpackr'],
    connections: 8,
    pipeline: 32,
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
      case '--fractions': a.fractions = v().split(',').map(Number); break;
      case '--ref-fractions': a.refFractions = v().split(',').map(Number); break;
      case '--warmup': a.warmupS = Number(v()); break;
      case '--duration': a.durationS = Number(v()); break;
      case '--peak-duration': a.peakDurationS = Number(v()); break;
      case '--servers': a.servers = v().split(','); break;
      case '--connections': a.connections = Number(v()); break;
      case '--pipeline': a.pipeline = Number(v()); break;
      case '--no-pin': a.pin = false; break;
      case '--out': a.out = v(); break;
      case '--base': a.base = path.resolve(v(), 'bin', 'ringloop.js'); break;
      default: throw new Error(`unknown argument ${k}`);
    }
  }
  if (a.quick) {
    if (!explicit.has('--rounds')) a.rounds = 2;
    if (!explicit.has('--warmup')) a.warmupS = 0.5;
    if (!explicit.has('--duration')) a.durationS = 2;
    if (!explicit.has('--peak-duration')) a.peakDurationS = 2;
  }
  if ([...a.fractions, ...a.refFractions].some((f) => !(f > 0 && f < 1))) throw new Error('fractions must be in (0, 1)');
  return a;
}

interface Point {
  round: number;
  server: string;
  /** 1 for the closed-loop peak run. */
  fraction: number;
  mode: 'closed' | 'open';
  targetRate: number | null;
  requestsPerSecond: number;
  sendRate: number | null;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  slotWaits: number;
  lateFrames: number;
  clientSaturated: boolean;
  clientNotes: string[];
  errors: Record<string, number>;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const specs = args.servers.map((n) => {
    const spec = serverSpecs(args.base).find((s) => s.name === n);
    if (!spec) throw new Error(`unknown server ${n}`);
    return spec;
  });
  const fractionsOf = (name: string): number[] => (name === args.servers[0] ? args.fractions : args.refFractions);
  const command = `node ${path.relative(ROOT, __filename)} ${process.argv.slice(2).join(' ')}`.trim();
  process.stderr.write(`${command}\n`);
  const notes: string[] = [];
  if (!hasTaskset && args.pin) notes.push('taskset not found: processes not pinned');
  const points: Point[] = [];
  const running: RunningServer[] = [];
  try {
    for (const spec of specs) running.push(await startServer(spec, args.pin));
    for (let round = 0; round < args.rounds; round++) {
      const k0 = round % running.length;
      for (const s of [...running.slice(k0), ...running.slice(0, k0)]) {
        const base: LoadOptions = {
          url: `${s.spec.transport}://127.0.0.1:${s.port}`,
          connections: args.connections,
          pipeline: args.pipeline,
          batch: 1,
          payloadBytes: 32,
          drainTimeoutMs: 1000,
        };
        const peak = await runLoadChild({ opts: { ...base, warmupS: 1, durationS: args.peakDurationS }, serverPid: s.pid }, args.pin);
        const P = peak.report.requestsPerSecond;
        const push = (fraction: number, r: typeof peak.report): void => {
          const p: Point = {
            round,
            server: s.spec.name,
            fraction,
            mode: r.mode,
            targetRate: r.openLoop?.targetRate ?? null,
            requestsPerSecond: r.requestsPerSecond,
            sendRate: r.openLoop?.sendRate ?? null,
            latencyMs: { p50: r.latencyMs.p50, p90: r.latencyMs.p90, p99: r.latencyMs.p99, p999: r.latencyMs.p999, max: r.latencyMs.max },
            slotWaits: r.openLoop?.slotWaits ?? 0,
            lateFrames: r.openLoop?.lateFrames ?? 0,
            clientSaturated: r.client.saturated,
            clientNotes: r.client.notes,
            errors: r.errors,
          };
          points.push(p);
          process.stderr.write(
            `round ${round} ${s.spec.name} ${fraction === 1 ? 'peak (closed loop)' : `${Math.round(fraction * 100)} % open loop`}: ` +
              `${Math.round(r.requestsPerSecond / 1000)} k req/s  p50 ${r.latencyMs.p50} ms  p99 ${r.latencyMs.p99} ms  p99.9 ${r.latencyMs.p999} ms` +
              `${p.slotWaits ? `  slot waits ${p.slotWaits}` : ''}${p.clientSaturated ? '  (client saturated)' : ''}\n`,
          );
        };
        push(1, peak.report);
        // Rotate the fraction order every round.
        const fractions = fractionsOf(s.spec.name);
        const k = round % fractions.length;
        const order = [...fractions.slice(k), ...fractions.slice(0, k)];
        for (const f of order) {
          const rate = Math.max(1, Math.round(P * f));
          const r = await runLoadChild({ opts: { ...base, rate, warmupS: args.warmupS, durationS: args.durationS }, serverPid: s.pid }, args.pin);
          push(f, r.report);
        }
      }
    }
  } finally {
    await Promise.all(running.map(stopServer));
  }

  const summary: Record<string, Record<string, Record<string, number | string | boolean | null>>> = {};
  for (const s of specs) {
    const per: Record<string, Record<string, number | string | boolean | null>> = {};
    for (const f of [1, ...fractionsOf(s.name)]) {
      const ps = points.filter((p) => p.server === s.name && p.fraction === f);
      if (!ps.length) continue;
      const key = f === 1 ? 'peak' : `${Math.round(f * 100)}%`;
      per[key] = {
        rounds: ps.length,
        requestsPerSecond: Math.round(median(ps.map((p) => p.requestsPerSecond))),
        targetRate: f === 1 ? null : Math.round(median(ps.map((p) => p.targetRate ?? 0))),
        p50Ms: median(ps.map((p) => p.latencyMs.p50)),
        p90Ms: median(ps.map((p) => p.latencyMs.p90)),
        p99Ms: median(ps.map((p) => p.latencyMs.p99)),
        bestRoundP99Ms: Math.min(...ps.map((p) => p.latencyMs.p99)),
        p99MsAll: ps.map((p) => p.latencyMs.p99).join(' / '),
        p999Ms: median(ps.map((p) => p.latencyMs.p999)),
        maxMs: median(ps.map((p) => p.latencyMs.max)),
        clientSaturatedRounds: ps.filter((p) => p.clientSaturated).length,
        slotWaitsMedian: median(ps.map((p) => p.slotWaits)),
      };
      if (f === 0.5 && s.name === args.servers[0]) {
        per[key]!['goal'] = 'p99 ≤ 2 ms (issue 5)';
        per[key]!['goalMet'] = (per[key]!['p99Ms'] as number) <= 2;
      }
    }
    summary[s.name] = per;
  }

  const date = new Date().toISOString().slice(0, 10);
  const outFile = args.out ?? path.join(ROOT, 'benchmarks', 'results', `latency-${date}${args.quick ? '-quick' : ''}.json`);
  const doc = {
    benchmark: 'latency',
    date: new Date().toISOString(),
    command: `npx tsc -p tsconfig.json && ${command}`,
    machine: machineInfo(),
    setup: {
      connections: args.connections,
      pipeline: args.pipeline,
      batch: 1,
      method: 'echo',
      payload: '32-byte str',
      peak: `closed loop, 1 s warm-up + ${args.peakDurationS} s measured, each round`,
      openLoop: `rate = fraction × that round's peak, ${args.warmupS} s warm-up + ${args.durationS} s measured; latency from each request's due time`,
      fractions: args.fractions,
      referenceServers: args.servers.slice(1),
      referenceFractions: args.refFractions,
      rounds: args.rounds,
      pinning: args.pin && hasTaskset ? 'servers taskset -c 0, load client taskset -c 1' : 'none',
    },
    notes,
    summary,
    rounds: points,
  };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, JSON.stringify(doc, null, 2) + '\n');

  let table = '\n| server | load | req/s (median) | p50 ms | p90 ms | p99 ms | p99 per round | p99.9 ms | goal |\n|---|---|---|---|---|---|---|---|---|\n';
  for (const [name, per] of Object.entries(summary)) {
    for (const [k, v] of Object.entries(per)) {
      const goal = v['goal'] ? `${v['goal']}: ${v['goalMet'] ? 'MET' : 'NOT MET'}` : '';
      table += `| ${name} | ${k === 'peak' ? 'peak, closed loop' : `${k} of peak, open loop`} | ${Math.round((v['requestsPerSecond'] as number) / 1000)} k | ${v['p50Ms']} | ${v['p90Ms']} | ${v['p99Ms']} | ${v['p99MsAll']} | ${v['p999Ms']} | ${goal} |\n`;
    }
  }
  process.stdout.write(`${table}\nwrote ${path.relative(ROOT, outFile)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
