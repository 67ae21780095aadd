/**
 * The picture and the table of the latest benchmark results: reads the newest
 * result file of each suite in benchmarks/results/ and writes
 * benchmarks/results/summary.svg (bars drawn by hand, no plotting library)
 * and summary.md (the tables with their goals, for benchmarks/README.md).
 *
 *   node dist/benchmarks/summary.js            # full-run files
 *   node dist/benchmarks/summary.js --quick    # the -quick files → summary-quick.svg / .md
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './servers/harness';

const RESULTS = path.join(ROOT, 'benchmarks', 'results');
const quick = process.argv.includes('--quick');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The newest result file (by its `date` field) of a suite, full or quick. */
function latest(bench: string): { file: string; doc: Json } | null {
  const re = new RegExp(`^${bench}-\\d{4}-\\d{2}-\\d{2}${quick ? '-quick' : ''}\\.json$`);
  let best: { file: string; doc: Json } | null = null;
  for (const f of fs.existsSync(RESULTS) ? fs.readdirSync(RESULTS) : []) {
    if (!re.test(f)) continue;
    let doc: Json;
    try {
      doc = JSON.parse(fs.readFileSync(path.join(RESULTS, f), 'utf8')) as Json;
    } catch {
      continue;
    }
    const date = String(doc['date'] ?? f);
    if (!best || date > String(best.doc['date'] ?? best.file)) best = { file: f, doc };
  }
  return best;
}

// ------------------------------------------------------------------ SVG bits

const W = 980;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const RINGLOOP = '#d9480f';
const RINGLOOP_LIGHT = '#ffa94d';
const OTHER = '#868e96';
const OTHER_LIGHT = '#ced4da';
const GOAL = '#2b8a3e';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
}

/** Splits text into lines of at most `n` characters, at spaces. */
function wrap(s: string, n: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of s.split(' ')) {
    if (line && line.length + 1 + word.length > n) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  return out;
}

function rate(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : x >= 1e3 ? `${Math.round(x / 1000)} k/s` : `${Math.round(x)}/s`;
}

interface Bar {
  label: string;
  /** One or two values (drawn as stacked rows: e.g. p50 then p99). */
  values: number[];
  valueLabels: string[];
  colors: string[];
  /** A note after the value (e.g. "client-bound"). */
  note?: string;
}

interface Panel {
  title: string;
  subtitle?: string;
  bars: Bar[];
  /** Vertical goal line at this value, with its label. */
  goal?: { value: number; label: string };
  /** Values above this are drawn at it, their label saying "bar cut". */
  cap?: number;
  /** Lines of text under the bars (goal checks). */
  footer?: string[];
  legend?: Array<{ color: string; label: string }>;
}

/** A horizontal bar panel; returns its SVG and height. */
function panel(p: Panel, y0: number): { svg: string; height: number } {
  const x0 = 24;
  const labelW = 300;
  const barX = x0 + labelW;
  const barMaxW = W - barX - 170;
  const rowH = 16;
  const gap = 8;
  let y = y0;
  let svg = text(x0, y + 16, p.title, 'font-size="16" font-weight="600" fill="#212529"');
  y += 22;
  for (const line of p.subtitle ? wrap(p.subtitle, 150) : []) {
    svg += text(x0, y + 12, line, 'font-size="12" fill="#495057"');
    y += 16;
  }
  if (p.subtitle) y += 2;
  if (p.legend) {
    let lx = x0;
    for (const l of p.legend) {
      svg += `<rect x="${lx}" y="${y + 3}" width="12" height="10" fill="${l.color}"/>`;
      svg += text(lx + 16, y + 12, l.label, 'font-size="12" fill="#495057"');
      lx += 24 + l.label.length * 7;
    }
    y += 18;
  }
  const cap = p.cap ?? Infinity;
  const max = Math.min(cap, Math.max(...p.bars.flatMap((b) => b.values.filter(Number.isFinite)), p.goal?.value ?? 0)) * 1.05 || 1;
  const scale = (v: number): number => (Number.isFinite(v) ? Math.max(1, (Math.min(v, cap) / max) * barMaxW) : 0);
  if (p.goal) {
    // The goal's label gets a row of its own above the bars.
    const gx = barX + scale(p.goal.value);
    svg += text(gx, y + 12, p.goal.label, `font-size="11" text-anchor="middle" fill="${GOAL}"`);
    y += 16;
  }
  const top = y + 4;
  y += 6;
  for (const b of p.bars) {
    const h = rowH * b.values.length;
    svg += text(barX - 8, y + h / 2 + 4, b.label, 'font-size="12" text-anchor="end" fill="#212529"');
    b.values.forEach((v, i) => {
      const by = y + i * rowH;
      svg += `<rect x="${barX}" y="${by + 1}" width="${scale(v).toFixed(1)}" height="${rowH - 3}" fill="${b.colors[i] ?? OTHER}"/>`;
      const note = (v > cap ? '  (bar cut)' : '') + (i === b.values.length - 1 && b.note ? `  ${b.note}` : '');
      svg += text(barX + scale(v) + 6, by + rowH - 4, `${b.valueLabels[i] ?? ''}${note}`, 'font-size="11" fill="#343a40"');
    });
    y += h + gap;
  }
  if (p.goal) {
    const gx = barX + scale(p.goal.value);
    svg += `<line x1="${gx.toFixed(1)}" y1="${top}" x2="${gx.toFixed(1)}" y2="${y - gap + 2}" stroke="${GOAL}" stroke-width="1.5" stroke-dasharray="5,3"/>`;
  }
  for (const line of p.footer ?? []) {
    svg += text(x0, y + 12, line, 'font-size="12" fill="#212529"');
    y += 17;
  }
  return { svg, height: y - y0 + 18 };
}

// ------------------------------------------------------------------ content

const md: string[] = [];
const panels: Panel[] = [];
const sources: string[] = [];
let machine = '';

function check(met: boolean | null | undefined): string {
  return met === true ? 'met' : met === false ? 'NOT met' : '';
}

const e2e = latest('e2e-echo');
if (e2e) {
  sources.push(e2e.file);
  const d = e2e.doc;
  const m = d['machine'] ?? {};
  machine = `${m.cores ?? '?'} × ${m.cpuModel ?? '?'}, ${m.os ?? ''}, Node ${m.node ?? '?'}`;
  md.push(`### e2e-echo (\`${d['command']}\`; ${e2e.file})`, '');
  md.push('| server | req/frame | req/s | p50 ms | p99 ms | p99.9 ms | server CPU | req per server CPU-s |', '|---|---|---|---|---|---|---|---|');
  for (const [bk, per] of Object.entries(d['summary'] as Json)) {
    const batch = Number(bk.replace('batch', ''));
    const bars: Bar[] = [];
    const lat: Bar[] = [];
    for (const [name, s] of Object.entries(per as Json)) {
      const bound = s.clientSaturatedRounds > s.rounds / 2 ? 'client-bound: lower bound' : undefined;
      const mine = name.startsWith('ringloop');
      bars.push({ label: name, values: [s.requestsPerSecond], valueLabels: [rate(s.requestsPerSecond)], colors: [mine ? RINGLOOP : OTHER], note: bound });
      lat.push({
        label: `${name}, ${batch}/frame`,
        values: [s.p50Ms, s.p99Ms],
        valueLabels: [`p50 ${s.p50Ms} ms`, `p99 ${s.p99Ms} ms`],
        colors: mine ? [RINGLOOP, RINGLOOP_LIGHT] : [OTHER, OTHER_LIGHT],
      });
      md.push(
        `| ${name} | ${batch} | ${rate(s.requestsPerSecond)}${bound ? ' (client-bound)' : ''} | ${s.p50Ms} | ${s.p99Ms} | ${s.p999Ms} | ${s.serverCpu} | ${rate(s.perServerCpuSecond)} |`,
      );
    }
    const footer: string[] = [];
    for (const [k, r] of Object.entries(((d['ratios'] ?? {}) as Json)[bk] ?? {})) {
      const rr = r as Json;
      if (rr.goalAtLeast != null) footer.push(`${k}: ${rr.medianOfRoundRatios} (goal ${rr.goal}: ${check(rr.goalMet)})`);
      else footer.push(`${k}: ${rr.medianOfRoundRatios} (${rr.goal})`);
    }
    const tv = ((d['tcpVsWs'] ?? {}) as Json)[bk];
    if (tv) footer.push(`ringloop-tcp/ringloop: ${tv.medianOfRoundRatios} (goal ${tv.goal}: ${check(tv.goalMet)})`);
    panels.push({
      title: `Throughput, echo of 32 B, ${batch} request${batch > 1 ? 's' : ''} per frame`,
      subtitle: `${d.setup?.connections ?? 8} connections × ${d.setup?.pipeline ?? 32} frames in flight; median of ${d.setup?.rounds} alternating rounds; server on CPU 0, client on CPU 1`,
      bars,
      footer: footer.map((f) => `ratio ${f}`),
    });
    panels.push({
      title: `Latency in the same runs (ms), ${batch} per frame, closed loop`,
      bars: lat,
      legend: [
        { color: RINGLOOP, label: 'p50' },
        { color: RINGLOOP_LIGHT, label: 'p99' },
      ],
    });
  }
  md.push('');
  md.push('| ratio (median of per-round ratios) | value | goal |', '|---|---|---|');
  for (const [bk, per] of Object.entries((d['ratios'] ?? {}) as Json)) {
    for (const [k, r] of Object.entries(per as Json)) {
      const rr = r as Json;
      md.push(`| ${k}, ${bk.replace('batch', '')}/frame | **${rr.medianOfRoundRatios}** | ${rr.goal}${rr.goalMet == null ? '' : ': ' + check(rr.goalMet)} |`);
    }
  }
  for (const [bk, tv] of Object.entries((d['tcpVsWs'] ?? {}) as Json)) {
    md.push(`| ringloop-tcp/ringloop, ${bk.replace('batch', '')}/frame | **${tv.medianOfRoundRatios}** | ${tv.goal}: ${check(tv.goalMet)} |`);
  }
  md.push('');
}

const lat = latest('latency');
if (lat) {
  sources.push(lat.file);
  const d = lat.doc;
  md.push(`### latency (\`${d['command']}\`; ${lat.file})`, '');
  md.push('| server | load | req/s | p50 ms | p90 ms | p99 ms | p99 per round | p99.9 ms | goal |', '|---|---|---|---|---|---|---|---|---|');
  const bars: Bar[] = [];
  const footer: string[] = [];
  for (const [name, per] of Object.entries(d['summary'] as Json)) {
    const mine = name.startsWith('ringloop');
    const entries = Object.entries(per as Json).sort((a, b) => (a[0] === 'peak' ? 1 : b[0] === 'peak' ? -1 : parseFloat(a[0]) - parseFloat(b[0])));
    for (const [k, s] of entries) {
      const label = k === 'peak' ? `${name}: peak ${rate(s.requestsPerSecond)}, closed` : `${name}: ${k} of peak (${rate(s.targetRate)})`;
      bars.push({
        label,
        values: [s.p50Ms, s.p99Ms, s.p999Ms],
        valueLabels: [`p50 ${s.p50Ms} ms`, `p99 ${s.p99Ms} ms (rounds ${s.p99MsAll ?? '?'})`, `p99.9 ${s.p999Ms} ms`],
        colors: mine ? [RINGLOOP, RINGLOOP_LIGHT, '#ffe8cc'] : [OTHER, OTHER_LIGHT, '#e9ecef'],
      });
      if (s.goal) footer.unshift(`${name}, p99 at half of peak: ${s.p99Ms} ms, median of rounds (best round ${s.bestRoundP99Ms} ms); goal ${s.goal}: ${check(s.goalMet)}`);
      else if (!mine && k === '50%') footer.push(`${name} (bare uWS + msgpackr, the control in the same rounds), p99 at half of its peak: ${s.p99Ms} ms (best round ${s.bestRoundP99Ms} ms)`);
      md.push(
        `| ${name} | ${k === 'peak' ? 'peak, closed loop' : `${k} of peak, open loop`} | ${rate(s.requestsPerSecond)} | ${s.p50Ms} | ${s.p90Ms} | **${s.p99Ms}** | ${s.p99MsAll ?? ''} | ${s.p999Ms} | ${s.goal ? `${s.goal}: ${check(s.goalMet)}` : ''} |`,
      );
    }
  }
  panels.push({
    title: 'Latency under load (ms): open loop at a share of peak, from each request\'s due time',
    subtitle: `echo 32 B, 1 per frame, ${d.setup?.connections ?? 8} connections; each round measures its peak first; median of ${d.setup?.rounds} rounds`,
    bars,
    goal: { value: 2, label: 'goal: p99 ≤ 2 ms at 50 %' },
    cap: 10,
    legend: [
      { color: RINGLOOP, label: 'p50' },
      { color: RINGLOOP_LIGHT, label: 'p99' },
      { color: '#ffe8cc', label: 'p99.9' },
    ],
    footer,
  });
  md.push('');
}

const idle = latest('idle-rss');
if (idle) {
  sources.push(idle.file);
  const d = idle.doc;
  md.push(`### idle-rss (\`${d['command']}\`; ${idle.file})`, '');
  md.push('| server | bytes per idle connection | rounds | goal |', '|---|---|---|---|');
  const bars: Bar[] = [];
  for (const [name, s] of Object.entries(d['summary'] as Json)) {
    bars.push({ label: name, values: [s.bytesPerConnection], valueLabels: [`${Math.round(s.bytesPerConnection).toLocaleString('en-US')} B`], colors: [name === 'ringloop' ? RINGLOOP : OTHER] });
    md.push(`| ${name} | **${Math.round(s.bytesPerConnection).toLocaleString('en-US')}** | ${(s.all as number[]).join(' / ')} | ${s.goal ?? 'reference'} |`);
  }
  panels.push({
    title: `Memory per idle WebSocket connection (RSS bytes, ${(d.setup?.connections ?? 5000).toLocaleString('en-US')} connections)`,
    bars,
    goal: { value: 2048, label: 'goal < 2,048 B' },
  });
  md.push('');
}

const micro: Array<[string, string]> = [
  ['codec', 'Codec, ns per message (lower is better)'],
  ['dispatch', 'Dispatch: one frame through reactor.frame(), ns per message'],
  ['queue', 'FIFO push+shift, ns per item (lower is better)'],
];
for (const [name, title] of micro) {
  const f = latest(name);
  if (!f) continue;
  sources.push(f.file);
  const d = f.doc;
  md.push(`### ${name} (\`${d['command']}\`; ${f.file})`, '');
  md.push('| case | ops/s | ns per message | ± |', '|---|---|---|---|');
  const bars: Bar[] = [];
  for (const r of d['results'] as Json[]) {
    const mine = /ringloop|reactor|pool ring/.test(r.name);
    bars.push({ label: r.name.length > 48 ? r.name.slice(0, 47) + '…' : r.name, values: [r.nsPerMessage], valueLabels: [`${r.nsPerMessage} ns`], colors: [mine ? RINGLOOP : OTHER] });
    md.push(`| ${r.name} | ${Number(r.opsPerSecond).toLocaleString('en-US')} | ${r.nsPerMessage} | ${r.rmePercent} % |`);
  }
  // Array at 100k queued is thousands of times slower: cap the scale so the rest stays readable.
  const sorted = bars.map((b) => b.values[0]!).sort((a, b) => a - b);
  const cap = sorted.length > 2 ? sorted[sorted.length - 2]! * 3 : Infinity;
  for (const b of bars) {
    if (b.values[0]! > cap) {
      b.note = '(bar cut)';
      b.values = [cap];
    }
  }
  panels.push({ title, subtitle: String(d['description'] ?? ''), bars });
  md.push('');
}

// ------------------------------------------------------------------ write

let body = '';
const when = e2e?.doc['date'] ?? lat?.doc['date'] ?? new Date().toISOString();
const headLines = wrap(`${String(when).slice(0, 10)} · ${machine} · from ${sources.join(', ')}`, 160);
let y = 48 + headLines.length * 15;
for (const p of panels) {
  const { svg, height } = panel(p, y);
  body += svg;
  y += height;
}
const header =
  text(24, 32, `ringloop benchmarks${quick ? ' (quick run: indicative only)' : ''}`, 'font-size="22" font-weight="700" fill="#212529"') +
  headLines.map((l, i) => text(24, 52 + i * 15, l, 'font-size="11" fill="#495057"')).join('');
const svg =
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y + 10}" viewBox="0 0 ${W} ${y + 10}" ${FONT}>\n` +
  `<rect width="100%" height="100%" fill="#ffffff"/>\n${header}\n${body}\n</svg>\n`;
const svgFile = path.join(RESULTS, `summary${quick ? '-quick' : ''}.svg`);
const mdFile = path.join(RESULTS, `summary${quick ? '-quick' : ''}.md`);
fs.mkdirSync(RESULTS, { recursive: true });
fs.writeFileSync(svgFile, svg);
fs.writeFileSync(mdFile, `<!-- generated by node dist/benchmarks/summary.js${quick ? ' --quick' : ''} -->\n\n${md.join('\n')}\n`);
process.stdout.write(`${md.join('\n')}\nwrote ${path.relative(ROOT, svgFile)} and ${path.relative(ROOT, mdFile)}\n`);
