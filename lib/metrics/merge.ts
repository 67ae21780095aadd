/**
 * Sums the Prometheus text of several reactor processes into the server's
 * totals (CONTRACT.md: /metrics through any reactor describes the whole
 * server). Counters and histograms of reactors that are gone (a crash, an
 * older generation) are kept as `retired` so totals never go backwards.
 */
import { fmtNum } from './registry';

interface Family {
  help: string;
  type: string;
  /** Sample key (`name{labels}`) -> value, in first-seen order. */
  samples: Map<string, number>;
}

/** Gauges whose server-wide value is the worst reactor's, not the sum. */
const MAX_GAUGES = new Set(['ringloop_event_loop_lag_seconds']);
/** Gauges that hold for the server only if they hold for every reactor (pub/sub: each reactor has its own NATS connection). */
const MIN_GAUGES = new Set(['ringloop_nats_connected']);

const SUFFIXES = ['_bucket', '_sum', '_count', '_total'];

/** The family a sample belongs to: histogram samples carry suffixes their family name lacks. */
function familyOf(sampleName: string, families: Map<string, Family>): string {
  if (families.has(sampleName)) return sampleName;
  for (const s of SUFFIXES) {
    if (sampleName.endsWith(s)) {
      const base = sampleName.slice(0, -s.length);
      if (families.has(base)) return base;
    }
  }
  return sampleName;
}

/** One more reactor's value of a sample: summed, or the worst of them for MAX_GAUGES / MIN_GAUGES. */
function combine(family: string, samples: Map<string, number>, key: string, value: number): void {
  const prev = samples.get(key);
  if (prev === undefined) samples.set(key, value);
  else samples.set(key, MAX_GAUGES.has(family) ? Math.max(prev, value) : MIN_GAUGES.has(family) ? Math.min(prev, value) : prev + value);
}

export class MetricsText {
  readonly families = new Map<string, Family>();

  /** Adds one exposition (each sample is summed, or maxed for MAX_GAUGES). */
  add(text: string): this {
    const pendingHelp = new Map<string, string>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('# HELP ')) {
        const rest = line.slice(7);
        const sp = rest.indexOf(' ');
        pendingHelp.set(rest.slice(0, sp), rest.slice(sp + 1));
        continue;
      }
      if (line.startsWith('# TYPE ')) {
        const [name, type] = line.slice(7).split(' ');
        if (!this.families.has(name)) this.families.set(name, { help: pendingHelp.get(name) ?? '', type, samples: new Map() });
        continue;
      }
      if (line.startsWith('#')) continue;
      const sp = line.lastIndexOf(' ');
      const key = line.slice(0, sp);
      const value = Number(line.slice(sp + 1));
      const brace = key.indexOf('{');
      const name = familyOf(brace < 0 ? key : key.slice(0, brace), this.families);
      let fam = this.families.get(name);
      if (fam === undefined) this.families.set(name, (fam = { help: '', type: 'untyped', samples: new Map() }));
      combine(name, fam.samples, key, value);
    }
    return this;
  }

  /** Only what never goes down: counters and histograms (kept when a reactor goes). */
  monotonic(): MetricsText {
    const out = new MetricsText();
    for (const [name, f] of this.families) {
      if (f.type === 'counter' || f.type === 'histogram') out.families.set(name, { help: f.help, type: f.type, samples: new Map(f.samples) });
    }
    return out;
  }

  /** Adds another MetricsText's samples into this one (as `add` would its text). */
  merge(other: MetricsText): this {
    for (const [name, f] of other.families) {
      let mine = this.families.get(name);
      if (mine === undefined) this.families.set(name, (mine = { help: f.help, type: f.type, samples: new Map() }));
      for (const [k, v] of f.samples) combine(name, mine.samples, k, v);
    }
    return this;
  }

  /** The value of one sample key, e.g. `ringloop_connections{transport="ws"}` (0 when absent). */
  value(key: string): number {
    const brace = key.indexOf('{');
    return this.families.get(familyOf(brace < 0 ? key : key.slice(0, brace), this.families))?.samples.get(key) ?? 0;
  }

  render(): string {
    const out: string[] = [];
    for (const [name, f] of this.families) {
      if (f.help !== '') out.push(`# HELP ${name} ${f.help}`);
      out.push(`# TYPE ${name} ${f.type}`);
      for (const [k, v] of f.samples) out.push(`${k} ${fmtNum(v)}`);
    }
    return out.join('\n') + '\n';
  }
}

