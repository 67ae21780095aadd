/**
 * Reading a finished run: was the load client itself the bottleneck, and what
 * else in the figures needs a warning? Fills `report.client.saturated` and
 * `report.client.notes`.
 */
import * as os from 'node:os';
import type { LoadReport } from './types';

/** An event loop busy this share of the window or more is saturated. */
export const ELU_SATURATED = 0.9;
/** Open loop: more than this share of frames leaving late means the client fell behind. */
export const LATE_SHARE = 0.05;

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10} %`;
}

export function analyzeRun(r: LoadReport): void {
  const notes: string[] = [];
  let saturated = false;
  const c = r.client;
  c.eventLoopUtilization.forEach((u, i) => {
    if (u >= ELU_SATURATED) {
      saturated = true;
      const who = c.eventLoopUtilization.length > 1 ? `load thread ${i + 1}` : 'the load thread';
      notes.push(
        `client saturated: ${who} was busy ${pct(u)} of the window, so the figures may understate the server ` +
          '(add --threads, or run the client on another machine)',
      );
    }
  });
  const usable = Math.min(r.threads, os.cpus().length);
  if (!saturated && c.cpuCores >= 0.9 * usable) {
    saturated = true;
    notes.push(`client saturated: it used ${c.cpuCores} cores of the ${usable} its threads can use`);
  }
  const ol = r.openLoop;
  if (ol !== null) {
    const lateShare = ol.frames > 0 ? ol.lateFrames / ol.frames : 0;
    if (lateShare > LATE_SHARE) {
      saturated = true;
      notes.push(
        `client behind schedule: ${ol.lateFrames} of ${ol.frames} frames (${pct(lateShare)}) left more than 1 ms after their due time ` +
          `with a pipeline slot free (max lag ${ol.maxLagMs} ms); latency still counts from the due time`,
      );
    }
    if (ol.slotWaits > 0) {
      notes.push(
        `${ol.slotWaits} of ${ol.frames} frames waited for a free pipeline slot: the server answered slower than ` +
          `${ol.targetRate} requests/s, or --pipeline (${r.pipeline} per connection) is too small; their latency includes the wait`,
      );
    }
    if (ol.sendRate < 0.95 * ol.targetRate) {
      notes.push(`sent ${ol.sendRate} requests/s of the ${ol.targetRate} asked for`);
    }
  }
  const overloaded = (r.errors['OVERLOADED'] ?? 0) + (r.total.errors['OVERLOADED'] ?? 0);
  if (overloaded > 0) {
    notes.push(
      `OVERLOADED answers: ${r.pipeline * r.batch} requests in flight per connection (pipeline × batch) is more than the server's --max-inflight allows`,
    );
  }
  if (r.droppedConnections > 0) {
    notes.push(
      `${r.droppedConnections} ${r.reconnect ? '' : `of ${r.connections} `}connections were closed by the server or failed (closes: ${JSON.stringify(r.closes)})` +
        (r.reconnect ? `; ${r.reconnects} replacements opened` : ''),
    );
  }
  if (r.unanswered > 0) notes.push(`${r.unanswered} requests were still unanswered when the connections closed`);
  if (r.protocolErrors > 0) notes.push(`${r.protocolErrors} protocol violations by the server (bad frames or invalid MessagePack)`);
  if (r.mismatches > 0) notes.push(`${r.mismatches} results differed from the param sent`);
  if (r.unexpected > 0) notes.push(`${r.unexpected} messages were not answers to outstanding requests`);
  c.saturated = saturated;
  c.notes = notes;
}
