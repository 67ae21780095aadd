/** Human-readable output of `ringloop load`: the progress line and the final table. */
import type { LoadProgress, LoadReport } from './types';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => n.toFixed(3);

function codes(m: Record<string, number>): string {
  const entries = Object.entries(m).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k} ${int(v)}`).join(', ');
}

/** One progress line (no newline). `totalS` is the length of the phase. */
export function formatProgress(p: LoadProgress, totalS: number): string {
  const phase = p.phase === 'warmup' ? 'warm-up' : 'measure';
  return (
    `[${phase} ${p.elapsedS.toFixed(1)}/${totalS.toFixed(1)} s] ${int(p.intervalRate)} req/s, ` +
    `${int(p.responses)} responses, ${int(p.errors)} errors, ${p.openConnections} connections open` +
    (p.reconnects > 0 || p.resends > 0 ? `, ${int(p.reconnects)} reconnects, ${int(p.resends)} resent` : '')
  );
}

/**
 * The final table. `what` describes the call (e.g. `echo ["<32-byte str>"]`);
 * by default the method and payload size.
 */
export function formatReport(r: LoadReport, what?: string): string {
  const L: string[] = [];
  const row = (k: string, v: string): number => L.push(`  ${k.padEnd(14)} ${v}`);
  const inflight = r.pipeline * r.batch;
  L.push(`ringloop load ${r.url}`);
  row('call', what ?? `${r.method} (${r.payloadBytes}-byte ${r.payloadType} payload)`);
  row(
    'load',
    `${r.connections} connections × ${r.pipeline} frames × ${r.batch} request${r.batch === 1 ? '' : 's'}/frame` +
      ` (≤ ${int(inflight)} in flight each), ${r.mode === 'open' ? `open loop at ${int(r.openLoop!.targetRate)} req/s` : 'closed loop'}, ` +
      `${r.threads} thread${r.threads === 1 ? '' : 's'}`,
  );
  row('window', `${r.durationS.toFixed(2)} s measured${r.warmupS > 0 ? ` after ${r.warmupS} s warm-up` : ''}`);
  L.push('');
  row('requests/s', int(r.requestsPerSecond));
  row('responses', `${int(r.responses)} (${int(r.results)} ok, ${int(r.responses - r.results)} errors)`);
  const cols = ['p50', 'p90', 'p99', 'p99.9', 'max'];
  const vals = [r.latencyMs.p50, r.latencyMs.p90, r.latencyMs.p99, r.latencyMs.p999, r.latencyMs.max].map(ms);
  const w = Math.max(8, ...vals.map((v) => v.length + 2));
  row('latency ms', cols.map((c) => c.padStart(w)).join(''));
  row('', vals.map((v) => v.padStart(w)).join(''));
  row('errors', codes(r.errors));
  if (r.reconnect) {
    row(
      'reconnect',
      `${int(r.goaways)} goaway, ${int(r.reconnects)} reconnects (${int(r.reconnectFailures)} attempts failed), ` +
        `${int(r.resends)} requests resent (not run the first time; counted once, latency from the first send)`,
    );
  }
  if (r.openLoop) {
    const o = r.openLoop;
    row(
      'schedule',
      `sent ${int(o.sendRate)} req/s of ${int(o.targetRate)}; ${int(o.lateFrames)} frames late (client), ` +
        `${int(o.slotWaits)} waited for a slot (server), max lag ${ms(o.maxLagMs)} ms; latency counts from each frame's due time`,
    );
  }
  const elu = r.client.eventLoopUtilization.map((u) => `${Math.round(u * 100)} %`).join(', ');
  row(
    'client',
    `${r.client.cpuCores} cores, event loop busy ${elu}: ${r.client.saturated ? 'SATURATED (see notes)' : 'not saturated'}`,
  );
  const whole = r.total;
  row(
    'whole run',
    `${int(whole.requests)} requests sent, ${int(whole.responses)} answered (${int(whole.results)} ok${
      Object.keys(whole.errors).length ? ', ' + codes(whole.errors) : ''
    }), warm-up and drain included`,
  );
  if (r.client.notes.length) {
    L.push('');
    L.push('  notes:');
    for (const n of r.client.notes) L.push(`  - ${n}`);
  }
  return L.join('\n');
}
