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
 *
 * Per delivery the client reads a frame header, a few bytes of the prefix and
 * the sequence number; reads go straight into one shared buffer (`onread`,
 * no stream machinery, no allocation per read). Order and loss are checked on
 * every delivery; latency may be sampled (`sampleEvery`: deliveries of every
 * N-th publication), which keeps the client cheaper per delivery than the
 * servers it measures. `rate: 0` publishes as fast as the server delivers:
 * at most `window` publications not yet received by every subscriber
 * (closed loop), so the server, not a queue, is the limit; they go out in
 * writes of `burst` publications as soon as the window allows (from the read
 * path, not a timer), so a server sees bursts arriving as on a busy topic.
 */
import net from 'node:net';
import { decodeAny, encodeNotification, encodeRequest } from '../protocol/codec';
import { encodeClientFrame, encodeCloseFrame, makeHandshake, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, parseHandshakeResponse } from './ws-frame';
import { buildHistogram, summarize } from './stats';
import { parseTarget } from './target';
import type { LatencySummary, LoadTarget } from './types';

export interface FanoutOptions {
  /** Where subscribers connect (ws://HOST:PORT). */
  url: string;
  /** Where the publisher connects (default: url). */
  pubUrl?: string;
  subscribers: number;
  /** Publications per second; 0: as fast as the server delivers (at most `window` publications in flight). */
  rate: number;
  /** With rate 0: publications published and not yet received by every subscriber (default ceil(50,000 / subscribers), at least 4). */
  window?: number;
  /** With rate 0: publications written together, one write each burst (default 1); the window is at least 2 bursts. */
  burst?: number;
  /** Latency of the deliveries of every N-th publication only (default 1: all); order and loss are checked on every delivery. */
  sampleEvery?: number;
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
  /** Publications per second in the measured window (with rate 0, what the server sustained). */
  publishedPerS: number;
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

/** Every connection reads into this buffer (onread): a read is handled before the next one, and leftovers are copied out. */
const READ_BUF = Buffer.allocUnsafe(256 * 1024);

/** One raw WebSocket client: handshake, masked frames out, server frames in. */
class RawWs {
  private buf: Buffer = Buffer.alloc(0);
  private open = false;
  private handshake: ((chunk: Buffer) => void) | null;
  closeCode: number | null = null;
  onPayload: (payload: Buffer) => void = () => undefined;
  readonly ready: Promise<void>;
  readonly ended: Promise<void>;
  readonly socket: net.Socket;

  constructor(readonly target: LoadTarget) {
    const hs = makeHandshake(target);
    let resolveEnd!: () => void;
    this.ended = new Promise((r) => (resolveEnd = r));
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    this.handshake = (chunk) => {
      const r = parseHandshakeResponse(chunk, chunk.length, hs.expectedAccept);
      if (r.kind === 'incomplete') return void (this.buf = Buffer.from(chunk));
      if (r.kind === 'rejected') {
        this.socket.destroy();
        return rejectReady(new Error(r.reason));
      }
      this.open = true;
      this.handshake = null;
      this.buf = Buffer.alloc(0);
      resolveReady();
      this.frames(chunk.subarray(r.bodyStart));
    };
    const s = net.connect({
      host: target.host,
      port: target.port,
      noDelay: true,
      onread: {
        buffer: READ_BUF,
        callback: (n: number, b: Uint8Array) => {
          const chunk = Buffer.from(b.buffer, b.byteOffset, n);
          const data = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
          if (this.handshake !== null) this.handshake(data);
          else this.frames(data);
          return true;
        },
      },
    });
    this.socket = s;
    s.once('connect', () => s.write(hs.request));
    s.on('error', (e) => (this.open ? undefined : rejectReady(e)));
    s.on('close', () => {
      if (!this.open) rejectReady(new Error('connection closed during the handshake'));
      this.open = false;
      this.closeCode ??= 1006;
      resolveEnd();
    });
  }

  /** Handles the complete frames in `b` (valid during this call only) and keeps a copy of any partial one. */
  private frames(b: Buffer): void {
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
    this.buf = at === b.length ? Buffer.alloc(0) : Buffer.from(b.subarray(at));
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
    if (this.open) this.socket.end(encodeCloseFrame(1000));
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
  const topicEnd = prefix.length - 1; // the prefix ends with the topic's last byte
  const lastTopicByte = prefix[topicEnd]!;
  const binTag = o.size < 256 ? 0xc4 : o.size < 65536 ? 0xc5 : 0xc6;
  const sampleEvery = Math.max(1, Math.floor(o.sampleEvery ?? 1));
  const burst = Math.max(1, Math.floor(o.burst ?? 1));
  const window = Math.max(2 * burst, Math.floor(o.window ?? Math.max(4, Math.ceil(50_000 / o.subscribers))));
  /** Closed loop: publishes the bursts the window allows (set once the publisher is up). */
  let refill: () => void = () => undefined;
  let total = 0;
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
      let now = 0;
      for (let at = 0; at + msgLen <= p.length; at += msgLen) {
        // Cheap identity check (first byte, the topic's last byte, the bin header); the full prefix is compared on sampled deliveries.
        if (p[at] !== 0x93 || p[at + topicEnd] !== lastTopicByte || p[at + prefix.length] !== binTag) return;
        const seq = p.readUInt32BE(at + dataAt);
        const prev = last[idx]!;
        if (seq <= prev) outOfOrder++;
        else {
          if (seq > prev + 1) gaps += seq - prev - 1;
          last[idx] = seq;
        }
        received[idx]!++;
        if (++total % o.subscribers === 0) refill();
        if (inWindow) delivered++;
        if (measuring && seq % sampleEvery === 0) {
          if (p.compare(prefix, 0, prefix.length, at, at + prefix.length) !== 0) return; // not a delivery of our topic
          if (now === 0) now = nowMs();
          const us = Math.max(1, Math.round((now - p.readDoubleBE(at + dataAt + 4)) * 1000));
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
  let measuredPublished = 0;
  let stopped = false;
  const publication = (): Buffer => {
    data.writeUInt32BE(published, 0);
    data.writeDoubleBE(nowMs(), 4);
    published++;
    return encodeClientFrame(OP_BINARY, encodeNotification('ringloop.publish', [o.topic, data]));
  };
  if (o.rate <= 0) {
    refill = () => {
      // Up to `window` publications not yet received by every subscriber, in whole bursts of one write each.
      while (!stopped && Math.floor(total / o.subscribers) + window - published >= burst) {
        const frames: Buffer[] = [];
        for (let k = 0; k < burst; k++) frames.push(publication());
        pub.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
      }
    };
  }
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (!measuring && now >= warmEnd && measuredFrom === 0) {
        measuring = true;
        inWindow = true;
        measuredFrom = now;
        measuredPublished = published;
      }
      if (o.rate > 0) {
        // What is due by now, in one write.
        const due = Math.min(Math.floor(((Math.min(now, end) - t0) * o.rate) / 1000), Math.ceil(((end - t0) * o.rate) / 1000));
        const frames: Buffer[] = [];
        while (published < due) frames.push(publication());
        if (frames.length > 0) pub.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
      } else refill();
      if (now >= end) {
        inWindow = false;
        stopped = true;
        measuredPublished = published - measuredPublished;
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
    publishedPerS: Math.round(measuredPublished / measuredS),
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
    `fan-out: ${r.subscribers} subscribers, ${r.rate > 0 ? r.rate : 'as many as delivered'} publications/s of ${r.size} bytes, ${r.durationS} s`,
    `published      ${r.published} (${r.publishedPerS}/s measured)`,
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
