/**
 * One load connection: WebSocket (handshake and framing by hand) or a raw
 * MessagePack-RPC TCP stream, with `pipeline` precomputed frames in flight.
 *
 * Hot path, per received chunk: one timestamp, frame headers walked in place,
 * responses scanned without decoding (only error maps are decoded), latency
 * recorded once per run of responses from the same frame, completed frames
 * written again from the shared precomputed set, all writes of a chunk corked
 * into one writev. Plain TCP sockets read into a per-connection reused buffer
 * (`onread`), so no Buffer is allocated per read.
 *
 * Open loop (`openLoop` set): frames are not resent on completion; a completed
 * slot goes back to a free list, and `pump` sends every frame whose due time
 * has come (or comes within `LEAD_MS`) while a slot is free. A frame's latency
 * counts from its due time when it left late (coordinated omission corrected),
 * from its real send time when it left early.
 *
 * With `--reconnect` (`link` set), several connections in turn serve one
 * lane (reconnect.ts): they share its slot state, each request being
 * outstanding on at most one of them (`outstanding[msgid]` holds that
 * connection's tag), and this class tells the lane about goaway, about
 * `SHUTTING_DOWN` answers and about requests a closed connection left
 * unanswered, which the lane sends again elsewhere.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { Unpackr } from 'msgpackr';
import {
  INCOMPLETE,
  INVALID,
  NOT_UINT,
  readUintAt,
  skipValue,
  uintEnd,
} from './msgpack-scan';
import {
  encodeClientFrame,
  encodeCloseFrame,
  makeHandshake,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  parseHandshakeResponse,
  type Handshake,
} from './ws-frame';
import { ErrorCode } from '../errors';
import { LoadStats, PHASE_DRAIN } from './stats';
import type { LoadTarget } from './types';

const errorUnpackr = new Unpackr({ useRecords: false });

/**
 * One read buffer for every plain-TCP connection: `onread` callbacks run one at
 * a time on this thread, and whatever must outlive a callback is copied out.
 */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);
const EMPTY = Buffer.alloc(0);

/** In open loop, frames due within this many ms are sent now (the ticker runs about once a millisecond). */
export const LEAD_MS = 1;
/** A frame that leaves more than this many ms after its due time, a slot being free, is late (the client's own lag). */
export const LATE_MS = 1;

const ST_CONNECTING = 0;
const ST_HANDSHAKE = 1;
const ST_OPEN = 2;
const ST_CLOSING = 3;
const ST_CLOSED = 4;

export interface ConnectionConfig {
  target: LoadTarget;
  frames: readonly Buffer[];
  batch: number;
  stats: LoadStats;
  /** Expected bytes of each result (verify), or null. */
  expectedResult: Buffer | null;
  headers?: Readonly<Record<string, string>>;
  insecure: boolean;
  /** PEM to trust for wss:// and tls://. */
  ca?: string;
  /** Count an echoed request `[0, msgid, …]` as the answer to msgid (servers that echo bytes untouched). */
  rawEcho: boolean;
  /** Open loop: one frame every `intervalMs`, the first `firstDueMs` after start. Null: closed loop. */
  openLoop?: { intervalMs: number; firstDueMs: number } | null;
  /** `--reconnect`: the lane this connection serves. */
  link?: LaneLink | null;
}

/** Slot state of a lane, shared by the connections that serve it in turn. */
export interface SharedSlots {
  /** Tag of the connection on which that msgid is unanswered; 0 when none. */
  readonly outstanding: Uint8Array;
  /** Requests of the slot not answered yet, wherever they are. */
  readonly slotRemaining: Int32Array;
  /** When the slot was (first) sent: a request sent again keeps its slot's time. */
  readonly slotSentAt: Float64Array;
}

/** What a connection tells the lane it serves (`--reconnect`). */
export interface LaneLink {
  readonly slots: SharedSlots;
  /** This connection's tag in `slots.outstanding` (1..255). */
  readonly tag: number;
  /** `ringloop.goaway` arrived on `c` (`reason` from its map; `SHUTTING_DOWN` when an answer said so first). */
  goaway(c: LoadConnection, reason: string): void;
  /** The request `msgid` was not run on `c` (a `SHUTTING_DOWN` answer, or `c` closed first): send it again. */
  resend(msgid: number): void;
  /** Every request of `slot` was answered on `c`, which takes no new requests: the lane sends the slot elsewhere. */
  slotFree(slot: number): void;
  /** `c`, draining after goaway, has nothing left in flight. */
  idle(c: LoadConnection): void;
  /** `c` closed, was reset, or broke the protocol (its unanswered requests were handed to `resend` first). */
  ended(c: LoadConnection): void;
}

/** Error from connecting or from the handshake. */
export class ConnectError extends Error {}

export class LoadConnection {
  private readonly cfg: ConnectionConfig;
  private readonly stats: LoadStats;
  private readonly frames: readonly Buffer[];
  private readonly batch: number;
  private readonly pipeline: number;
  private readonly totalIds: number;
  private readonly isWs: boolean;
  private readonly expected: Buffer | null;
  private readonly rawEcho: boolean;
  private readonly link: LaneLink | null;
  /** Marks this connection's requests in `outstanding` (always 1 without a lane). */
  readonly tag: number;
  /** After goaway: no new requests here; closed once nothing is in flight. */
  private draining = false;
  /** `ringloop.goaway` arrived (possibly before the lane made this connection its current one). */
  goneAway = false;

  private socket: net.Socket | null = null;
  private state = ST_CONNECTING;
  private handshake: Handshake | null = null;
  private running = false;
  /** Set after a close frame or a protocol error: whatever follows is ignored. */
  private discard = false;

  /** `tag` while the request with that msgid is unanswered here. */
  private readonly outstanding: Uint8Array;
  private readonly slotRemaining: Int32Array;
  private readonly slotSentAt: Float64Array;
  private readonly resendSlots: Int32Array;
  private resendCount = 0;
  // Open loop:
  private readonly openLoop: boolean;
  private readonly intervalMs: number;
  private readonly freeSlots: Int32Array;
  private freeCount = 0;
  /** Due time of the next frame (performance.now() ms). */
  nextDue = Infinity;
  /** Last time a frame was due and no slot was free. */
  private lastBlockedAt = -Infinity;
  /** Unanswered requests sent on this connection. */
  inflight = 0;

  /** Bytes carried over between reads (partial frame header, partial frame, partial TCP message). */
  private stage: Buffer = EMPTY;
  private stageLen = 0;
  /** Fragmented WebSocket message being assembled. */
  private frag: Buffer | null = null;
  private fragLen = 0;
  private fragOpcode = 0;

  // Current run of responses to one slot, recorded into the histogram at once.
  private runSlot = -1;
  private runCount = 0;
  private now = 0;

  private closeResolvers: Array<() => void> = [];
  /** Why the connection ended, when it ended before `close()`. */
  endReason: string | null = null;

  constructor(cfg: ConnectionConfig) {
    this.cfg = cfg;
    this.stats = cfg.stats;
    this.frames = cfg.frames;
    this.batch = cfg.batch;
    this.pipeline = cfg.frames.length;
    this.totalIds = this.pipeline * this.batch;
    this.isWs = cfg.target.transport === 'ws' || cfg.target.transport === 'wss';
    this.expected = cfg.rawEcho ? null : cfg.expectedResult;
    this.rawEcho = cfg.rawEcho;
    this.link = cfg.link ?? null;
    this.tag = this.link?.tag ?? 1;
    const shared = this.link?.slots;
    this.outstanding = shared?.outstanding ?? new Uint8Array(this.totalIds);
    this.slotRemaining = shared?.slotRemaining ?? new Int32Array(this.pipeline);
    this.slotSentAt = shared?.slotSentAt ?? new Float64Array(this.pipeline);
    this.resendSlots = new Int32Array(this.pipeline);
    this.openLoop = cfg.openLoop != null;
    this.intervalMs = cfg.openLoop?.intervalMs ?? 0;
    this.freeSlots = new Int32Array(this.openLoop ? this.pipeline : 0);
  }

  get isOpen(): boolean {
    return this.state === ST_OPEN;
  }

  /** Unanswered requests that may still be answered. */
  get awaiting(): boolean {
    return this.state === ST_OPEN && this.inflight > 0;
  }

  /** Connects (and for WebSocket completes the handshake). */
  connect(timeoutMs: number): Promise<void> {
    const { target } = this.cfg;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (msg: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.state = ST_CLOSED;
        this.socket?.destroy();
        reject(new ConnectError(`${target.url}: ${msg}`));
      };
      const timer = setTimeout(() => fail(`no connection after ${timeoutMs} ms`), timeoutMs);
      this.onOpen = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      };
      this.onConnectFail = fail;
      const secure = target.transport === 'wss' || target.transport === 'tls';
      let socket: net.Socket;
      if (secure) {
        socket = tls.connect({
          host: target.host,
          port: target.port,
          servername: net.isIP(target.host) ? undefined : target.host,
          rejectUnauthorized: !this.cfg.insecure,
          ...(this.cfg.ca !== undefined ? { ca: this.cfg.ca } : {}),
        });
        socket.on('data', (chunk: Buffer) => this.onBytes(chunk, chunk.length));
        socket.once('secureConnect', () => this.onConnected());
      } else {
        socket = net.connect({
          host: target.host,
          port: target.port,
          onread: {
            buffer: sharedReadBuffer,
            callback: (n: number, buf: Uint8Array): boolean => {
              this.onBytes(buf as Buffer, n);
              return true;
            },
          },
        });
        socket.once('connect', () => this.onConnected());
      }
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (this.state < ST_OPEN) fail(err.message);
        else this.ended(`error:${err.code ?? err.message}`);
      });
      socket.on('end', () => {
        if (this.state < ST_OPEN) fail('connection closed during the handshake');
        else if (this.state === ST_OPEN) this.ended(this.isWs ? 'eof-without-close-frame' : 'tcp-eof');
        // Half-open: finish our side.
        socket.end();
      });
      socket.on('close', () => {
        if (this.state < ST_OPEN) fail('connection closed');
        else if (this.state === ST_OPEN) this.ended(this.isWs ? 'eof-without-close-frame' : 'tcp-eof');
        this.state = ST_CLOSED;
        const resolvers = this.closeResolvers;
        this.closeResolvers = [];
        for (const r of resolvers) r();
      });
    });
  }

  private onOpen: () => void = () => {};
  private onConnectFail: (msg: string) => void = () => {};

  private onConnected(): void {
    if (this.isWs) {
      this.state = ST_HANDSHAKE;
      try {
        this.handshake = makeHandshake(this.cfg.target, this.cfg.headers);
      } catch (e) {
        this.onConnectFail((e as Error).message);
        return;
      }
      this.socket!.write(this.handshake.request);
    } else {
      this.state = ST_OPEN;
      this.onOpen();
    }
  }

  /** Sends every slot; from now on each answered slot is sent again. */
  start(): void {
    if (this.state !== ST_OPEN) return;
    this.running = true;
    const socket = this.socket!;
    if (this.openLoop) {
      // Slot 0 first.
      for (let s = this.pipeline - 1; s >= 0; s--) this.freeSlots[this.freeCount++] = s;
      const t = performance.now();
      this.nextDue = t + this.cfg.openLoop!.firstDueMs;
      this.tick(t);
      return;
    }
    socket.cork();
    for (let s = 0; s < this.pipeline; s++) this.sendSlot(s);
    const t = performance.now();
    for (let s = 0; s < this.pipeline; s++) this.slotSentAt[s] = t;
    socket.uncork();
  }

  /** Open loop: sends the frames that are due by now (called by the run's ticker). */
  tick(now: number): void {
    if (!this.running || this.nextDue > now + LEAD_MS || this.state !== ST_OPEN) return;
    const socket = this.socket!;
    socket.cork();
    this.pump(now);
    socket.uncork();
  }

  /** Sends every frame due by `now + LEAD_MS` while a slot is free. The socket is corked by the caller. */
  private pump(now: number): void {
    const horizon = now + LEAD_MS;
    const stats = this.stats;
    while (this.nextDue <= horizon) {
      const due = this.nextDue;
      if (this.freeCount === 0) {
        if (due <= now) this.lastBlockedAt = now;
        return;
      }
      const s = this.freeSlots[--this.freeCount]!;
      this.sendSlot(s);
      // Latency counts from the due time when late, from the real send when early.
      this.slotSentAt[s] = due < now ? due : now;
      const lag = now - due;
      stats.schedFrames++;
      if (this.lastBlockedAt >= due) stats.schedSlotWaits++;
      else if (lag > LATE_MS) stats.schedLate++;
      if (lag > stats.schedMaxLagMs) stats.schedMaxLagMs = lag;
      this.nextDue = due + this.intervalMs;
    }
  }

  /** Stops sending; responses still in flight keep being counted. */
  stop(): void {
    this.running = false;
  }

  // ------------------------------------------------ lane (--reconnect) only

  /** Takes no new requests from now on (goaway); the lane closes it once idle. */
  drain(): void {
    this.running = false;
    this.draining = true;
    this.releaseFreeSlots();
  }

  /** Open loop: free slots belong to the lane once this connection takes no new requests. */
  private releaseFreeSlots(): void {
    while (this.freeCount > 0) this.link!.slotFree(this.freeSlots[--this.freeCount]!);
  }

  /**
   * Starts a replacement: sends the lane's free slots (closed loop) or adds
   * them to the free list and keeps the old schedule (open loop, `nextDue`),
   * then keeps going like `start`.
   */
  resume(slots: Int32Array, count: number, running: boolean, nextDue: number): void {
    if (this.state !== ST_OPEN) return;
    this.running = running;
    const socket = this.socket!;
    socket.cork();
    if (this.openLoop) {
      for (let i = 0; i < count; i++) this.freeSlots[this.freeCount++] = slots[i]!;
      this.nextDue = nextDue;
      if (running) this.pump(performance.now());
    } else if (running) {
      const t = performance.now();
      for (let i = 0; i < count; i++) {
        const s = slots[i]!;
        this.sendSlot(s);
        this.slotSentAt[s] = t;
      }
    }
    socket.uncork();
  }

  /** Takes a slot whose requests were all answered elsewhere: sends it now (closed loop) or frees it for the schedule (open loop). */
  takeSlot(slot: number): void {
    if (this.openLoop) {
      this.freeSlots[this.freeCount++] = slot;
    } else {
      this.sendSlot(slot);
      this.slotSentAt[slot] = performance.now();
    }
  }

  /** Sends one request again (`frame` carries msgid alone); it keeps its slot's send time. */
  resendRequest(msgid: number, frame: Buffer): void {
    this.outstanding[msgid] = this.tag;
    this.inflight++;
    this.stats.resends++;
    this.socket!.write(frame);
  }

  /** Hands every request still unanswered here to the lane. */
  private releaseOutstanding(): void {
    const link = this.link!;
    const out = this.outstanding;
    const tag = this.tag;
    for (let m = 0; m < this.totalIds && this.inflight > 0; m++) {
      if (out[m] === tag) {
        out[m] = 0;
        this.inflight--;
        link.resend(m);
      }
    }
    this.inflight = 0;
  }

  /** Closes (a WebSocket close frame 1000 first) and waits for the socket to close, at most `timeoutMs`. */
  close(timeoutMs: number): Promise<void> {
    this.running = false;
    const socket = this.socket;
    if (!socket || this.state === ST_CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, timeoutMs);
      this.closeResolvers.push(() => {
        clearTimeout(timer);
        resolve();
      });
      if (this.state === ST_OPEN) {
        this.state = ST_CLOSING;
        if (this.isWs) socket.write(encodeCloseFrame(1000));
        socket.end();
      } else if (this.state < ST_OPEN) {
        socket.destroy();
      }
    });
  }

  private ended(reason: string): void {
    if (this.state !== ST_OPEN) return;
    this.state = ST_CLOSING;
    this.endReason = reason;
    this.running = false;
    this.stats.countClose(reason);
    // After goaway, a close with nothing in flight is the expected end, not a dropped connection.
    if (this.stats.phase !== PHASE_DRAIN && !(this.draining && this.inflight === 0)) this.stats.droppedConnections++;
    if (this.link !== null) {
      this.releaseOutstanding();
      this.releaseFreeSlots();
      this.link.ended(this);
    }
  }

  private sendSlot(s: number): void {
    const b = this.batch;
    const base = s * b;
    const tag = this.tag;
    for (let i = 0; i < b; i++) this.outstanding[base + i] = tag;
    this.slotRemaining[s] = b;
    this.inflight += b;
    this.stats.requests += b;
    this.socket!.write(this.frames[s]!);
  }

  // ---------------------------------------------------------------- reading

  private appendStage(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    const need = this.stageLen + n;
    if (need > this.stage.length) {
      let size = Math.max(this.stage.length * 2, 4096);
      while (size < need) size *= 2;
      const grown = Buffer.allocUnsafe(size);
      this.stage.copy(grown, 0, 0, this.stageLen);
      this.stage = grown;
    }
    this.stage.set(src.subarray(from, to), this.stageLen);
    this.stageLen = need;
  }

  private onBytes(chunk: Buffer, n: number): void {
    if (this.state === ST_CLOSED || this.discard) return;
    this.now = performance.now();
    let buf: Buffer;
    let end: number;
    if (this.stageLen > 0) {
      this.appendStage(chunk, 0, n);
      buf = this.stage;
      end = this.stageLen;
    } else {
      buf = chunk;
      end = n;
    }
    let pos = 0;
    const socket = this.socket!;
    socket.cork();
    if (this.state === ST_HANDSHAKE) {
      const r = parseHandshakeResponse(buf, end, this.handshake!.expectedAccept);
      if (r.kind === 'incomplete') {
        if (buf !== this.stage) this.appendStage(buf, 0, end);
        socket.uncork();
        return;
      }
      if (r.kind === 'rejected') {
        socket.uncork();
        this.onConnectFail(r.reason);
        return;
      }
      pos = r.bodyStart;
      this.state = ST_OPEN;
      this.onOpen();
    }
    if (this.isWs) pos = this.readFrames(buf, pos, end);
    else pos = this.readMessages(buf, pos, end, true);
    this.flushRun();
    // Keep what is left for the next read.
    if (pos < 0) {
      this.stageLen = 0;
    } else if (buf === this.stage) {
      if (pos > 0) buf.copyWithin(0, pos, end);
      this.stageLen = end - pos;
    } else if (pos < end) {
      this.appendStage(buf, pos, end);
    }
    if (this.openLoop) {
      if (this.running && this.freeCount > 0) this.pump(this.now);
    } else if (this.resendCount > 0) {
      const t = performance.now();
      for (let i = 0; i < this.resendCount; i++) this.slotSentAt[this.resendSlots[i]!] = t;
      this.resendCount = 0;
    }
    socket.uncork();
    if (this.draining && this.inflight === 0 && this.state === ST_OPEN) this.link!.idle(this);
  }

  /** Walks WebSocket frames in buf[pos..end); returns where the first incomplete frame starts, or -1 after a fatal error. */
  private readFrames(buf: Buffer, pos: number, end: number): number {
    while (end - pos >= 2) {
      const b0 = buf[pos]!;
      const b1 = buf[pos + 1]!;
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (end - pos < 4) break;
        len = (buf[pos + 2]! << 8) | buf[pos + 3]!;
        hdr = 4;
      } else if (len === 127) {
        if (end - pos < 10) break;
        const hi = buf.readUInt32BE(pos + 2);
        if (hi >= 0x200000) return this.protocolError('frame length over 2^53');
        len = hi * 0x100000000 + buf.readUInt32BE(pos + 6);
        hdr = 10;
      }
      if ((b1 & 0x80) !== 0) return this.protocolError('masked server frame');
      if ((b0 & 0x70) !== 0) return this.protocolError('reserved bits set (no extension was negotiated)');
      const start = pos + hdr;
      const stop = start + len;
      if (stop > end) break;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === OP_BINARY || opcode === OP_TEXT) {
        if (this.frag !== null) return this.protocolError('new message inside a fragmented one');
        this.stats.frames++;
        if (fin) {
          if (opcode === OP_BINARY) {
            if (this.readMessages(buf, start, stop, false) < 0) return -1;
          } else {
            this.stats.unexpected++;
          }
        } else {
          this.fragOpcode = opcode;
          this.frag = Buffer.allocUnsafe(Math.max(len * 2, 1024));
          this.fragLen = 0;
          this.appendFrag(buf, start, stop);
        }
      } else if (opcode === OP_CONTINUATION) {
        if (this.frag === null) return this.protocolError('continuation without a message');
        this.appendFrag(buf, start, stop);
        if (fin) {
          const msg = this.frag;
          const msgLen = this.fragLen;
          this.frag = null;
          if (this.fragOpcode === OP_BINARY) {
            if (this.readMessages(msg, 0, msgLen, false) < 0) return -1;
          } else {
            this.stats.unexpected++;
          }
        }
      } else if (opcode === OP_CLOSE) {
        const code = len >= 2 ? (buf[start]! << 8) | buf[start + 1]! : 1005;
        const socket = this.socket!;
        if (this.state === ST_OPEN) {
          // Closed by the server: echo the close frame, then finish.
          this.ended(String(code));
          socket.write(encodeCloseFrame(code === 1005 ? 1000 : code));
        }
        // Otherwise this answers our own close frame.
        this.discard = true;
        socket.end();
        return -1;
      } else if (opcode === OP_PING) {
        if (this.state === ST_OPEN) this.socket!.write(encodeClientFrame(OP_PONG, buf.subarray(start, stop)));
      } else if (opcode === OP_PONG) {
        // Unsolicited pong: ignore.
      } else {
        return this.protocolError(`unknown opcode ${opcode}`);
      }
      pos = stop;
    }
    return pos;
  }

  private appendFrag(src: Buffer, from: number, to: number): void {
    const need = this.fragLen + (to - from);
    if (need > this.frag!.length) {
      const grown = Buffer.allocUnsafe(need * 2);
      this.frag!.copy(grown, 0, 0, this.fragLen);
      this.frag = grown;
    }
    src.copy(this.frag!, this.fragLen, from, to);
    this.fragLen = need;
  }

  private protocolError(reason: string): number {
    this.stats.protocolErrors++;
    this.discard = true;
    if (this.state === ST_OPEN) {
      this.ended(`protocol-error:${reason}`);
      if (this.isWs) this.socket!.write(encodeCloseFrame(1002));
    }
    this.socket!.end();
    return -1;
  }

  /**
   * Walks MessagePack-RPC responses in buf[pos..end). A stream (TCP) may end
   * inside a message: returns where it starts. A WebSocket message must hold
   * whole messages. Returns -1 after a fatal error.
   */
  private readMessages(buf: Buffer, pos: number, end: number, stream: boolean): number {
    const stats = this.stats;
    const measuring = stats.phase !== PHASE_DRAIN;
    if (stream && pos < end) stats.frames++;
    while (pos < end) {
      const msgStart = pos;
      // [1, msgid, error, result]: 0x94 0x01 …  (or, from an echo-everything server, our own [0, msgid, method, params])
      const kind = pos + 1 < end ? buf[pos + 1] : 0x01;
      if (buf[pos] === 0x94 && (kind === 0x01 || (kind === 0x00 && this.rawEcho))) {
        const msgid = readUintAt(buf, pos + 2, end);
        let p = uintEnd.pos;
        if (p === INCOMPLETE) break;
        if (msgid === NOT_UINT) {
          // Not a response after all; skip it whole.
          const q = skipValue(buf, msgStart, end);
          if (q === INCOMPLETE) break;
          if (q === INVALID) return this.protocolError('invalid MessagePack');
          stats.unexpected++;
          pos = q;
          continue;
        }
        let errorCode: string | null = null;
        if (kind === 0x00) {
          p = skipValue(buf, p, end); // the method; the params stand for the result
          if (p === INCOMPLETE) break;
          if (p === INVALID) return this.protocolError('invalid MessagePack');
        } else if (p < end && buf[p] === 0xc0) {
          p++;
        } else {
          const q = skipValue(buf, p, end);
          if (q === INCOMPLETE) break;
          if (q === INVALID) return this.protocolError('invalid MessagePack');
          errorCode = decodeErrorCode(buf, p, q);
          p = q;
        }
        const resultStart = p;
        p = skipValue(buf, p, end);
        if (p === INCOMPLETE) break;
        if (p === INVALID) return this.protocolError('invalid MessagePack');
        pos = p;
        if (msgid >= this.totalIds || this.outstanding[msgid] !== this.tag) {
          stats.unexpected++;
          continue;
        }
        this.outstanding[msgid] = 0;
        this.inflight--;
        if (errorCode === ErrorCode.SHUTTING_DOWN && this.link !== null) {
          // Not run: the lane moves on (as after goaway) and sends it again; neither an answer nor an error.
          this.goneAway = true;
          this.link.goaway(this, ErrorCode.SHUTTING_DOWN);
          this.link.resend(msgid);
          continue;
        }
        const slot = (msgid / this.batch) | 0;
        if (!measuring) {
          stats.countLate(errorCode);
        } else {
          stats.responses++;
          if (errorCode === null) {
            stats.results++;
            const exp = this.expected;
            if (exp !== null && (p - resultStart !== exp.length || exp.compare(buf, resultStart, p) !== 0)) {
              stats.mismatches++;
            }
          } else {
            stats.countError(errorCode);
          }
          if (slot !== this.runSlot) {
            this.flushRun();
            this.runSlot = slot;
          }
          this.runCount++;
        }
        if (--this.slotRemaining[slot] === 0) {
          this.flushRun();
          if (this.draining) {
            this.link!.slotFree(slot);
          } else if (this.openLoop) {
            this.freeSlots[this.freeCount++] = slot;
          } else if (this.running) {
            this.sendSlot(slot);
            this.resendSlots[this.resendCount++] = slot;
          }
        }
      } else {
        const q = skipValue(buf, pos, end);
        if (q === INCOMPLETE) break;
        if (q === INVALID) return this.protocolError('invalid MessagePack');
        pos = q;
        if (this.link !== null && buf[msgStart] === 0x93 && buf[msgStart + 1] === 0x02) {
          const reason = goawayReason(buf, msgStart, q);
          if (reason !== null) {
            this.stats.goaways++;
            this.goneAway = true;
            this.link.goaway(this, reason);
            continue;
          }
        }
        stats.unexpected++;
      }
    }
    if (pos < end && !stream) return this.protocolError('WebSocket message ends inside a MessagePack value');
    return pos;
  }

  private flushRun(): void {
    if (this.runCount === 0) return;
    let us = Math.round((this.now - this.slotSentAt[this.runSlot]!) * 1000);
    if (us < 1) us = 1;
    this.stats.histogram.recordValueWithCount(us, this.runCount);
    this.runCount = 0;
    this.runSlot = -1;
  }
}


/** The `reason` of `[2, "ringloop.goaway", [{reason}]]` in buf[start..end) (`?` without one), or null for any other notification. */
function goawayReason(buf: Buffer, start: number, end: number): string | null {
  let msg: unknown;
  try {
    msg = errorUnpackr.unpack(buf.subarray(start, end));
  } catch {
    return null;
  }
  if (!Array.isArray(msg) || msg[1] !== 'ringloop.goaway') return null;
  const arg: unknown = Array.isArray(msg[2]) ? msg[2][0] : undefined;
  const reason = arg !== null && typeof arg === 'object' ? (arg as { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' ? reason : '?';
}

function decodeErrorCode(buf: Buffer, start: number, end: number): string {
  let err: unknown;
  try {
    err = errorUnpackr.unpack(buf.subarray(start, end));
  } catch {
    return '<undecodable>';
  }
  if (err !== null && typeof err === 'object' && !Array.isArray(err)) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    return '<no-code>';
  }
  return '<non-map>';
}
