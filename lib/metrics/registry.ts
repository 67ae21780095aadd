/**
 * A minimal Prometheus registry. Hand-written because observe() sits on the
 * per-request hot path (~1M/s): plain arrays, no label hashing per call.
 * Label sets are bound once (`counter.labels(...)`) and kept by the caller.
 */

type LabelValues = Record<string, string>;

function fmtLabels(labels: LabelValues, extra?: [string, string]): string {
  const parts: string[] = [];
  for (const k of Object.keys(labels)) parts.push(`${k}="${escapeLabel(labels[k])}"`);
  if (extra) parts.push(`${extra[0]}="${extra[1]}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function fmtNum(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return Number.isNaN(n) ? 'NaN' : String(n);
}

interface Metric {
  readonly name: string;
  render(out: string[]): void;
}

export class CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class Counter implements Metric {
  private readonly children = new Map<string, { labels: LabelValues; child: CounterChild }>();
  constructor(readonly name: string, private readonly help: string) {}
  labels(labels: LabelValues = {}): CounterChild {
    const key = JSON.stringify(labels);
    let e = this.children.get(key);
    if (!e) this.children.set(key, (e = { labels, child: new CounterChild() }));
    return e.child;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const { labels, child } of this.children.values()) out.push(`${this.name}${fmtLabels(labels)} ${fmtNum(child.value)}`);
  }
}

export class GaugeChild {
  value = 0;
  set(n: number): void {
    this.value = n;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class Gauge implements Metric {
  private readonly children = new Map<string, { labels: LabelValues; child: GaugeChild; read?: () => number }>();
  constructor(readonly name: string, private readonly help: string) {}
  labels(labels: LabelValues = {}): GaugeChild {
    const key = JSON.stringify(labels);
    let e = this.children.get(key);
    if (!e) this.children.set(key, (e = { labels, child: new GaugeChild() }));
    return e.child;
  }
  /** A gauge read at scrape time. */
  collect(labels: LabelValues, read: () => number): void {
    this.children.set(JSON.stringify(labels), { labels, child: new GaugeChild(), read });
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    for (const { labels, child, read } of this.children.values()) {
      let v = child.value;
      if (read) {
        // A value that cannot be read now (e.g. RSS at the file-descriptor limit: EMFILE) is left out, never fatal.
        try {
          v = read();
        } catch {
          continue;
        }
      }
      out.push(`${this.name}${fmtLabels(labels)} ${fmtNum(v)}`);
    }
  }
}

export class Histogram implements Metric {
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, private readonly help: string, private readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length);
  }
  observe(v: number): void {
    this.observeMany(v, 1);
  }
  /** n observations of the same value (a frame's synchronous answers all leave together). */
  observeMany(v: number, n: number): void {
    const b = this.buckets;
    // Linear scan: few buckets, and most observations land in the first ones.
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    if (i < b.length) this.counts[i] += n;
    this.sum += v * n;
    this.count += n;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    let cum = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cum += this.counts[i];
      out.push(`${this.name}_bucket{le="${fmtNum(this.buckets[i])}"} ${cum}`);
    }
    out.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${fmtNum(this.sum)}`, `${this.name}_count ${this.count}`);
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  private readonly names = new Set<string>();
  register<M extends Metric>(m: M): M {
    if (this.names.has(m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.names.add(m.name);
    this.metrics.push(m);
    return m;
  }
  counter(name: string, help: string): Counter {
    return this.register(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.register(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.register(new Histogram(name, help, buckets));
  }
  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return out.join('\n') + '\n';
  }
}
