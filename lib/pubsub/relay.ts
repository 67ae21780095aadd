/**
 * The relay between the reactor processes of one server. uWS topics reach
 * only their own process (FACTS.md), so each reactor listens on a unix socket
 * and keeps one outbound stream to every other reactor: a frame published
 * here is written once per peer, and one stream per (sender, receiver) pair
 * keeps each sender's frames in order.
 *
 * Bounded: each outbound link holds at most `maxQueuedBytes` not yet taken by
 * the kernel. A peer that cannot keep up (its link over the bound) is cut:
 * the frames still queued for it and every frame published while the link is
 * down are dropped and counted (`onDrop`), a warning is logged, and the link
 * reconnects after `retryMs`. Order per sender holds for what is delivered;
 * nothing is delivered twice.
 *
 * A cut link's last frames may still sit in the kernel when its replacement
 * starts: every frame carries the sender's sequence number and the receiver
 * drops (and counts, `stale`) any frame older than one it already delivered
 * from that sender, so order per sender holds across reconnects.
 *
 * Wire: a 4-byte big-endian length, a 4-byte sequence number, then the frame.
 * An outbound stream opens with one such record holding `selfId` and a
 * per-process instance id (a restarted reactor starts a new sequence).
 */
import { mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface RelayPeer {
  id: string;
  /** The unix socket path that peer listens on. */
  path: string;
}

export interface RelayLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RelayOptions {
  selfId: string;
  listenPath: string;
  /** Bytes one outbound link may hold unsent before its peer counts as unable to keep up (default 8 MiB). */
  maxQueuedBytes?: number;
  /** A frame from a peer (a view valid during the call only). */
  onMessage(frame: Buffer, from: string): void;
  /** Frames that did not reach `peer` (link cut, down, or reconnecting), or arrived from it out of date (stale). */
  onDrop?(peer: string, frames: number, reason: DropReason): void;
  log?: RelayLog;
  /** Delay before reconnecting a cut or failed link (default 250 ms). */
  retryMs?: number;
  /** Largest frame accepted from a peer (default 64 MiB); a bigger one cuts that inbound stream. */
  maxFrameBytes?: number;
}

interface Link {
  peer: RelayPeer;
  socket: net.Socket | null;
  up: boolean;
  /** Frames written to the socket and not yet flushed to the kernel. */
  queued: number;
  retry: NodeJS.Timeout | null;
  removed: boolean;
}

export type DropReason = 'slow' | 'down' | 'stale';

const NO_LOG: RelayLog = { info: () => undefined, warn: () => undefined };

export class Relay {
  private readonly links = new Map<string, Link>();
  private server: net.Server | null = null;
  private readonly inbound = new Set<net.Socket>();
  private readonly maxQueued: number;
  private readonly retryMs: number;
  private readonly maxFrame: number;
  private readonly log: RelayLog;
  private closed = false;
  /** Frames dropped per reason, for tests and metrics (slow, down: sent by this reactor; stale: received). */
  readonly drops = { slow: 0, down: 0, stale: 0 };
  private seq = 0;
  private readonly instance = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  /** Last sequence number delivered per sender instance. */
  private readonly lastSeq = new Map<string, number>();

  constructor(private readonly o: RelayOptions) {
    this.maxQueued = o.maxQueuedBytes ?? 8 * 1024 * 1024;
    this.retryMs = o.retryMs ?? 250;
    this.maxFrame = o.maxFrameBytes ?? 64 * 1024 * 1024;
    this.log = o.log ?? NO_LOG;
  }

  /** Binds `listenPath` (a stale socket file from a dead process is replaced). */
  listen(): Promise<void> {
    mkdirSync(path.dirname(this.o.listenPath), { recursive: true });
    try {
      unlinkSync(this.o.listenPath);
    } catch {
      /* none */
    }
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.listenPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** The live peers (this reactor may be in the list; it is skipped). Links to others are opened, links to gone ones closed. */
  setPeers(peers: readonly RelayPeer[]): void {
    const want = new Map(peers.filter((p) => p.id !== this.o.selfId).map((p) => [p.id, p]));
    for (const [id, link] of this.links) {
      const p = want.get(id);
      if (p === undefined || p.path !== link.peer.path) this.remove(link);
    }
    for (const [id, p] of want) {
      if (!this.links.has(id)) {
        const link: Link = { peer: p, socket: null, up: false, queued: 0, retry: null, removed: false };
        this.links.set(id, link);
        this.connect(link);
      }
    }
  }

  /** Whether any peer is known (no frame is built for a lone reactor). */
  get hasPeers(): boolean {
    return this.links.size > 0;
  }

  get peers(): string[] {
    return [...this.links.keys()];
  }

  /** Writes `frame` to every peer; a peer whose link is down or over its bound gets it counted as dropped. */
  publish(frame: Uint8Array): void {
    if (this.links.size === 0) return;
    const head = Buffer.allocUnsafe(8);
    head.writeUInt32BE(frame.length, 0);
    head.writeUInt32BE((this.seq = (this.seq + 1) >>> 0), 4);
    for (const link of this.links.values()) {
      const s = link.socket;
      if (s === null) {
        this.drop(link, 1, 'down');
        continue;
      }
      if (s.writableLength + frame.length + 8 > this.maxQueued) {
        this.cut(link, 1);
        continue;
      }
      link.queued++;
      s.cork();
      s.write(head);
      s.write(frame, (err) => this.written(link, s, err));
      s.uncork();
    }
  }

  private written(link: Link, s: net.Socket, err: Error | null | undefined): void {
    if (link.socket !== s) return; // counted when the socket was cut
    link.queued--;
    if (err) this.drop(link, 1, 'down');
  }

  private connect(link: Link): void {
    link.retry = null;
    if (link.removed || this.closed) return;
    const s = net.connect(link.peer.path);
    link.socket = s;
    link.queued = 0;
    s.setNoDelay?.(true);
    const hello = Buffer.from(`${this.o.selfId}\n${this.instance}`);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(hello.length, 0);
    s.write(Buffer.concat([head, hello]));
    s.on('connect', () => {
      if (link.socket !== s) return;
      link.up = true;
      this.log.info({ peer: link.peer.id }, 'relay: linked to reactor');
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (link.socket !== s) return;
      this.lost(link, 'down');
      if (link.up) this.log.warn({ peer: link.peer.id }, 'relay: link to reactor lost, reconnecting');
      link.up = false;
      this.later(link);
    });
    s.on('data', () => undefined); // peers never send on our outbound stream
  }

  /** The peer cannot keep up: cut the link (its queued frames are dropped and counted) and reconnect later. */
  private cut(link: Link, extra: number): void {
    const s = link.socket!;
    const frames = link.queued + extra;
    this.log.warn({ peer: link.peer.id, queuedBytes: s.writableLength, bound: this.maxQueued, droppedFrames: frames }, 'relay: reactor not keeping up, link cut (frames dropped and counted)');
    link.socket = null;
    link.up = false;
    link.queued = 0;
    s.destroy();
    this.drop(link, frames, 'slow');
    this.later(link);
  }

  private lost(link: Link, reason: 'down'): void {
    const n = link.queued;
    link.socket = null;
    link.queued = 0;
    if (n > 0) this.drop(link, n, reason);
  }

  private later(link: Link): void {
    if (link.removed || this.closed || link.retry !== null) return;
    link.retry = setTimeout(() => this.connect(link), this.retryMs);
    link.retry.unref();
  }

  private drop(link: Link, frames: number, reason: DropReason): void {
    this.countDrop(link.peer.id, frames, reason);
  }

  private countDrop(peer: string, frames: number, reason: DropReason): void {
    this.drops[reason] += frames;
    this.o.onDrop?.(peer, frames, reason);
  }

  private remove(link: Link): void {
    link.removed = true;
    this.links.delete(link.peer.id);
    if (link.retry !== null) clearTimeout(link.retry);
    const s = link.socket;
    link.socket = null;
    // A peer leaving gracefully: let what is queued for it go out.
    s?.end();
  }

  private accept(s: net.Socket): void {
    this.inbound.add(s);
    s.on('error', () => undefined);
    s.on('close', () => this.inbound.delete(s));
    let from: string | null = null;
    let key = '';
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let at = 0;
      while (buf.length - at >= 8) {
        const n = buf.readUInt32BE(at);
        if (n > this.maxFrame) {
          this.log.warn({ peer: from, bytes: n }, 'relay: frame over the limit, closing that stream');
          s.destroy();
          return;
        }
        if (buf.length - at - 8 < n) break;
        const seq = buf.readUInt32BE(at + 4);
        const frame = buf.subarray(at + 8, at + 8 + n);
        at += 8 + n;
        if (from === null) {
          key = frame.toString();
          from = key.slice(0, key.indexOf('\n'));
          continue;
        }
        const last = this.lastSeq.get(key);
        // Wrap-aware: older than what this sender already delivered means a cut stream's leftovers.
        if (last !== undefined && ((seq - last) | 0) <= 0) {
          this.countDrop(from, 1, 'stale');
          continue;
        }
        this.lastSeq.set(key, seq);
        this.o.onMessage(frame, from);
      }
      buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
    });
  }

  /** Pauses reading from peers (tests: a reactor that cannot keep up). */
  stall(on: boolean): void {
    for (const s of this.inbound) {
      if (on) s.pause();
      else s.resume();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const link of [...this.links.values()]) this.remove(link);
    for (const s of this.inbound) s.destroy();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((r) => server.close(() => r()));
  }
}
