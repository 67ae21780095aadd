/**
 * `ringloop load --fanout`: S subscriber WebSocket connections on one topic
 * and one publisher at a fixed rate. Reports deliveries/s, delivery latency
 * (publish time to receipt) percentiles, and messages missing or out of
 * order. Raw sockets and hand-parsed frames, so the client stays cheap per
 * delivery (one process serves thousands of subscribers).
 *
 * Each publication's data is a bin whose first 12 bytes are the publication's
 * sequence number (u32) and its send time (f64, ms since the epoch, sub-ms
 * precision), so a subscriber reads both at fixed offsets without decoding
 * the message; publisher and subscribers may be on different servers
 * (`--pub-url`), e.g. two servers on one NATS.
 */
import net from 'node:net';
import { decodeAny, encodeNotification, encodeRequest } from '../protocol/codec';
import { encodeClientFrame, makeHandshake, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, parseHandshakeResponse } from './ws-frame';
import { buildHistogram, summarize } from './stats';
import { parseTarget } from './target';
import type { LatencySummary, LoadTarget } from './types';

export interface FanoutOptions {
  /** Where subscribers connect (ws://HOST:PORT). */
  url: string;
  /** Where the publisher connects (default: url). */
  pubUrl?: string;
  subscribers: number;
  /** Publications per second. */
  rate: number;
  /** Bytes of data per publication (at least 12). */
  size: number;
  durationS: number;
  warmupS: number;
  topic: string;
  /** Seconds to wait after the last publication for stragglers before counting what is missing. */
  graceS?: number;
  /**
   * A method every connection calls once (no params) at setup, e.g. one
   * naming its reactor process: latency is also reported per group of
   * subscribers with the same answer, `same` being the publisher's.
   */
  groupBy?: string;
}

export interface FanoutReport {
  subscribers: number;
  rate: number;
  size: number;
  durationS: number;
  published: number;
  /** Deliveries received in the measured window, per second. */
  deliveriesPerS: number;
  latency: LatencySummary;
  /** Publications some subscriber never received (summed over subscribers). */
  missing: number;
  /** Deliveries whose sequence number was not above the previous one (summed over subscribers). */
  outOfOrder: number;
  /** Subscribers the server closed during the run, with their close codes. */
  closed: Record<string, number>;
  /** With groupBy: latency of the subscribers that answered like the publisher (`same`) and of the others (`other`). */
  groups?: { same: LatencySummary & { subscribers: number }; other: LatencySummary & { subscribers: number } };
}

/** Milliseconds since the epoch with sub-millisecond precision (comparable across processes). */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** One raw WebSocket client: handshake, masked frames out, server frames in. */
class RawWs {
  private buf: Buffer = Buffer.alloc(0);
  private open = false;
  closeCode: number | null = null;
  onPayload: (payload: Buffer) => void = () => undefined;
  readonly ready: Promise<void>;
  readonly ended: Promise<void>;

  constructor(readonly target: LoadTarget) {
    const hs = makeHandshake(target);
    const s = net.connect({ host: target.host, port: target.port, noDelay: true });
    this.socket = s;
    let resolveEnd!: () => void;
    this.ended = new Promise((r) => (resolveEnd = r));
    this.ready = new Promise((resolve, reject) => {
      s.once('connect', () => s.write(hs.request));
      s.on('error', (e) => (this.open ? undefined : reject(e)));
      s.on('close', () => {
        if (!this.open) reject(new Error('connection closed during the handshake'));
        this.open = false;
        this.closeCode ??= 1006;
        resolveEnd();
      });
      s.on('data', (chunk: Buffer) => {
        this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
        if (!this.open) {
          const r = parseHandshakeResponse(this.buf, this.buf.length, hs.expectedAccept);
          if (r.kind === 'incomplete') return;
          if (r.kind === 'rejected') {
            s.destroy();
            reject(new Error(r.reason));
            return;
          }
          this.open = true;
          this.buf = this.buf.subarray(r.bodyStart);
          resolve();
        }
        this.frames();
      });
    });
  }

  readonly socket: net.Socket;

  private frames(): void {
    const b = this.buf;
    let at = 0;
    while (b.length - at >= 2) {
      const op = b[at]! & 0x0f;
      let len = b[at + 1]! & 0x7f;
      let head = 2;
      if (len === 126) {
        if (b.length - at < 4) break;
        len = b.readUInt16BE(at + 2);
        head = 4;
      } else if (len === 127) {
        if (b.length - at < 10) break;
        len = b.readUInt32BE(at + 2) * 0x100000000 + b.readUInt32BE(at + 6);
        head = 10;
      }
      if (b.length - at - head < len) break;
      const payload = b.subarray(at + head, at + head + len);
      at += head + len;
      if (op === OP_BINARY || op === 0) this.onPayload(payload);
      else if (op === OP_PING) this.socket.write(encodeClientFrame(OP_PONG, payload));
      else if (op === OP_CLOSE) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.socket.end(encodeClientFrame(OP_CLOSE, payload.subarray(0, 2)));
      }
    }
    this.buf = at === b.length ? Buffer.alloc(0) : b.subarray(at);
  }

  send(bytes: Uint8Array): void {
    this.socket.write(encodeClientFrame(OP_BINARY, bytes));
  }

  /** Sends a request and resolves with its response (setup only: decodes with the full codec). */
  call(method: string, params: unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const prev = this.onPayload;
      this.onPayload = (p) => {
        for (const m of decodeAny(p)) {
          const a = m as unknown[];
          if (a[0] === 1 && a[1] === 1) {
            this.onPayload = prev;
            return a[2] === null ? resolve(a) : reject(new Error(`${method}: ${JSON.stringify(a[2])}`));
          }
        }
      };
      this.send(encodeRequest(1, method, params));
    });
  }

  close(): void {
    if (this.open) this.socket.end(encodeClientFrame(OP_CLOSE, Buffer.from([0x03, 0xe8])));
    else this.socket.destroy();
  }
}

/** The bytes every delivery of `topic` starts with: `[2, "ringloop.message", [topic, ` then the bin. */
function messagePrefix(topic: string): Buffer {
  return encodeNotification('ringloop.message', [topic, null]).subarray(0, -1); // drop the trailing nil
}

function binHeaderLength(size: number): number {
  return size < 256 ? 2 : size < 65536 ? 3 : 5;
}

export async function runFanout(o: FanoutOptions): Promise<FanoutReport> {
  if (o.size < 12) throw new Error('--size must be at least 12 bytes (sequence number and send time)');
  const subTarget = parseTarget(o.url);
  const pubTarget = parseTarget(o.pubUrl ?? o.url);
  for (const t of [subTarget, pubTarget]) if (t.transport !== 'ws') throw new Error(`fan-out mode speaks ws:// only, got ${t.url}`);
  const prefix = messagePrefix(o.topic);
  const dataAt = prefix.length + binHeaderLength(o.size);
  const msgLen = dataAt + o.size;
  const hist = buildHistogram();
  const groupHist = [buildHistogram(), buildHistogram()];
  const groupOf: string[] = [];
  /** Per subscriber: 0 = same group as the publisher, 1 = other, -1 = no grouping. */
  const side = new Int8Array(o.subscribers).fill(-1);
  /** Latency is recorded from the end of the warm-up to the end of the grace period; the rate counts the measured window only. */
  let measuring = false;
  let inWindow = false;
  let delivered = 0;
  let published = 0;
  const last = new Int32Array(o.subscribers).fill(-1);
  const received = new Float64Array(o.subscribers);
  let outOfOrder = 0;
  let gaps = 0;

  const subs: RawWs[] = [];
  for (let i = 0; i < o.subscribers; i++) {
    const c = new RawWs(subTarget);
    await c.ready;
    await c.call('ringloop.subscribe', [o.topic]);
    if (o.groupBy !== undefined) groupOf.push(JSON.stringify((await c.call(o.groupBy, []))[3]));
    const idx = i;
    c.onPayload = (p) => {
      const now = nowMs();
      for (let at = 0; at + msgLen <= p.length; at += msgLen) {
        if (p[at] !== 0x93 || p.compare(prefix, 0, prefix.length, at, at + prefix.length) !== 0) return; // not a delivery of our topic
        const seq = p.readUInt32BE(at + dataAt);
        const sent = p.readDoubleBE(at + dataAt + 4);
        const prev = last[idx]!;
        if (seq <= prev) outOfOrder++;
        else {
          if (seq > prev + 1) gaps += seq - prev - 1;
          last[idx] = seq;
        }
        received[idx]!++;
        if (inWindow) delivered++;
        if (measuring) {
          const us = Math.max(1, Math.round((now - sent) * 1000));
          hist.recordValue(us);
          const g = side[idx]!;
          if (g >= 0) groupHist[g]!.recordValue(us);
        }
      }
    };
    subs.push(c);
  }

  const pub = new RawWs(pubTarget);
  await pub.ready;
  let counts = [0, 0];
  if (o.groupBy !== undefined) {
    const mine = JSON.stringify((await pub.call(o.groupBy, []))[3]);
    groupOf.forEach((g, i) => (side[i] = g === mine ? 0 : 1));
    counts = [groupOf.filter((g) => g === mine).length, groupOf.filter((g) => g !== mine).length];
  }
  const data = Buffer.alloc(o.size);
  const t0 = performance.now();
  const warmEnd = t0 + o.warmupS * 1000;
  const end = warmEnd + o.durationS * 1000;
  let measuredFrom = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (!measuring && now >= warmEnd && measuredFrom === 0) {
        measuring = true;
        inWindow = true;
        measuredFrom = now;
      }
      const due = Math.min(Math.floor(((Math.min(now, end) - t0) * o.rate) / 1000), Math.ceil(((end - t0) * o.rate) / 1000));
      const frames: Buffer[] = [];
      while (published < due) {
        data.writeUInt32BE(published, 0);
        data.writeDoubleBE(nowMs(), 4);
        frames.push(encodeClientFrame(OP_BINARY, encodeNotification('ringloop.publish', [o.topic, data])));
        published++;
      }
      if (frames.length > 0) pub.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
      if (now >= end) {
        inWindow = false;
        return resolve();
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  // Stragglers still in flight count as delivered late (latency keeps them), not missing.
  const graceEnd = performance.now() + (o.graceS ?? 1) * 1000;
  while (performance.now() < graceEnd && received.some((n, i) => subs[i]!.closeCode === null && n < published)) await new Promise((r) => setTimeout(r, 20));
  measuring = false;
  const measuredS = Math.max(1e-9, (end - measuredFrom) / 1000);
  let tail = 0;
  const closed: Record<string, number> = {};
  subs.forEach((c, i) => {
    tail += published - 1 - last[i]!;
    if (c.closeCode !== null) closed[String(c.closeCode)] = (closed[String(c.closeCode)] ?? 0) + 1;
  });
  for (const c of [...subs, pub]) c.close();
  return {
    subscribers: o.subscribers,
    rate: o.rate,
    size: o.size,
    durationS: o.durationS,
    published,
    deliveriesPerS: Math.round(delivered / measuredS),
    latency: summarize(hist),
    missing: gaps + tail,
    outOfOrder,
    closed,
    ...(o.groupBy === undefined
      ? {}
      : { groups: { same: { ...summarize(groupHist[0]!), subscribers: counts[0]! }, other: { ...summarize(groupHist[1]!), subscribers: counts[1]! } } }),
  };
}

export function formatFanout(r: FanoutReport): string {
  const l = r.latency;
  return [
    `fan-out: ${r.subscribers} subscribers, ${r.rate} publications/s of ${r.size} bytes, ${r.durationS} s`,
    `published      ${r.published}`,
    `deliveries/s   ${r.deliveriesPerS}`,
    `latency ms     p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}  (${l.count} deliveries)`,
    `missing        ${r.missing}`,
    `out of order   ${r.outOfOrder}`,
    `closed         ${Object.keys(r.closed).length === 0 ? 'none' : JSON.stringify(r.closed)}`,
    ...(r.groups === undefined
      ? []
      : (['same', 'other'] as const).map((k) => {
          const g = r.groups![k];
          return `${k === 'same' ? 'same group' : 'other groups'}   ${g.subscribers} subscribers: p50 ${g.p50}  p90 ${g.p90}  p99 ${g.p99}  (${g.count})`;
        })),
  ].join('\n');
}
