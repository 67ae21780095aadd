/**
 * Shared runner of the benchmark.js micro suites (codec, dispatch, queue):
 * runs the cases, prints one line each, and writes
 * benchmarks/results/<name>-<date>[-quick].json with the machine information.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Benchmark from 'benchmark';
import { machineInfo, ROOT } from './servers/harness';

export interface MicroCase {
  name: string;
  /** Messages (or items) one call of `fn` handles; rates are also given per message. */
  perOp?: number;
  /** The group this case is compared within (e.g. "decode 1 request"). */
  group?: string;
  fn: () => void;
}

export interface MicroResult {
  name: string;
  group: string | null;
  opsPerSecond: number;
  /** opsPerSecond × perOp. */
  messagesPerSecond: number;
  /** Nanoseconds per message. */
  nsPerMessage: number;
  /** Relative margin of error, percent. */
  rmePercent: number;
  samples: number;
}

export interface MicroOptions {
  name: string;
  quick: boolean;
  /** What the suite measures, for the result file. */
  description: string;
  /** Extra notes for the result file. */
  notes?: string[];
}

/** Runs the cases one after the other (synchronously) and writes the result file; returns the results. */
export function runMicro(o: MicroOptions, cases: readonly MicroCase[]): MicroResult[] {
  const suite = new Benchmark.Suite(o.name);
  const maxTime = o.quick ? 0.5 : 1;
  const minSamples = o.quick ? 5 : 20;
  for (const c of cases) suite.add(c.name, c.fn, { minSamples, maxTime });
  const results: MicroResult[] = [];
  suite.on('cycle', (event: Benchmark.Event) => {
    const b = event.target;
    const c = cases.find((x) => x.name === b.name)!;
    const hz = b.hz ?? 0;
    const per = c.perOp ?? 1;
    const r: MicroResult = {
      name: c.name,
      group: c.group ?? null,
      opsPerSecond: Math.round(hz),
      messagesPerSecond: Math.round(hz * per),
      nsPerMessage: hz > 0 ? Math.round((1e9 / (hz * per)) * 10) / 10 : NaN,
      rmePercent: b.stats ? Math.round(b.stats.rme * 10) / 10 : NaN,
      samples: b.stats ? b.stats.sample.length : 0,
    };
    results.push(r);
    const msgs = per > 1 ? `  (${r.messagesPerSecond.toLocaleString('en-US')} messages/s)` : '';
    console.log(
      `${c.name.padEnd(52)} ${r.opsPerSecond.toLocaleString('en-US').padStart(13)} ops/s ±${r.rmePercent}%  ${String(r.nsPerMessage).padStart(8)} ns/message${msgs}`,
    );
  });
  suite.run({ async: false });

  const date = new Date().toISOString().slice(0, 10);
  const file = path.join(ROOT, 'benchmarks', 'results', `${o.name}-${date}${o.quick ? '-quick' : ''}.json`);
  const doc = {
    benchmark: o.name,
    date: new Date().toISOString(),
    command: `npx tsc -p tsconfig.json && node dist/benchmarks/${o.name}.bench.js${o.quick ? ' --quick' : ''}`,
    machine: machineInfo(),
    description: o.description,
    setup: { tool: 'benchmark.js', maxTimeS: maxTime, minSamples },
    notes: o.notes ?? [],
    results,
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  console.log(`node ${process.version}, ${process.arch}; wrote ${path.relative(ROOT, file)}`);
  return results;
}
