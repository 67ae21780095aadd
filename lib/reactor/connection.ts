/**
 * The transport-independent half of a connection: output batching and the
 * backpressure bound. Transports subclass it with the three native calls.
 */
import type { Connection, TransportKind } from './types';
import type { Call } from '../rpc/call';
import { CloseCode } from '../errors';
import type { MemoryBudget } from './memory-budget';

/** What a connection needs from the reactor that owns it. */
export interface ConnectionOwner {
  readonly maxBackpressure: number;
  /** The connection being read right now; its output is flushed when the read ends. */
  readonly reading: BaseConnection | null;
  scheduleFlush(conn: BaseConnection): void;
  /** One transport write of `bytes` bytes (for metrics). */
  sent(conn: BaseConnection, bytes: number): void;
  /** `bytes` of output dropped because the connection had closed (for metrics: never silent). */
  unsent(conn: BaseConnection, bytes: number): void;
  /** The server-wide bound on bytes connections hold (--max-buffered-total), when there is one. */
  readonly memory?: MemoryBudget;
}

let nextId = 1;

/** Answers merged into one WebSocket message stop short of this size (a single larger answer goes alone). */
export const COALESCE_MAX = 64 * 1024;

// BaseConnection.bits: the booleans of a connection and its fixed kind, in one small integer
// (an idle connection is mostly its fields: see native-notes/memory-per-connection.md).
const OPEN = 1;
const PINGED = 2;
const AUTH_PENDING = 4;
const AUTH_STARTED = 8;
const DIRTY = 16;
const TCP = 32;
const COALESCE = 64;
const ALIVE = 128;

// lastSeen is kept as milliseconds since this module loaded: a small integer V8 stores in the
// field itself, where an epoch-milliseconds double would take a separate 16-byte box.
const EPOCH = Date.now();

/**
 * What an idle connection seldom has, in one object made on first use: four
 * fields of every connection become one (native-notes/memory-per-connection.md).
 */
class Rare {
  identity: unknown = undefined;
  state: unknown = undefined;
  calls: Set<Call> | null = null;
  /** A close waiting for buffered output to drain (WebSocket). */
  pendingClose: { code: number; reason: string } | null = null;
}

export abstract class BaseConnection implements Connection {
  readonly id = nextId++;
  private bits: number;
  inflight = 0;
  private seen: number;
  private rare: Rare | null = null;
  /** Output queued this turn (see OutQueue); made on the first write, so a connection that never answered has none. */
  private q: OutQueue | null = null;
  private outBytes = 0;

  constructor(
    protected readonly owner: ConnectionOwner,
    transport: TransportKind,
    readonly remoteAddress: string,
    now: number,
    /**
     * WebSocket: uWS hands over each message of a read in a callback of its
     * own and never says when the read ends, so answers are held until the
     * reactor sees another connection's message or the turn ends: a read's
     * answers leave as one message, not one per request message. TCP: the
     * transport hands over whole reads; answers leave as each read ends.
     */
    coalesce = false,
  ) {
    this.bits = OPEN | ALIVE | (transport === 'tcp' ? TCP : 0) | (coalesce ? COALESCE : 0);
    this.seen = now - EPOCH;
  }

  get transport(): TransportKind {
    return (this.bits & TCP) !== 0 ? 'tcp' : 'ws';
  }

  get coalesce(): boolean {
    return (this.bits & COALESCE) !== 0;
  }

  get open(): boolean {
    return (this.bits & OPEN) !== 0;
  }
  set open(v: boolean) {
    this.flag(OPEN, v);
  }

  /** A keep-alive ping is outstanding. */
  get pinged(): boolean {
    return (this.bits & PINGED) !== 0;
  }
  set pinged(v: boolean) {
    this.flag(PINGED, v);
  }

  /** TCP with auth on: only `auth` is served until it succeeds. */
  get authPending(): boolean {
    return (this.bits & AUTH_PENDING) !== 0;
  }
  set authPending(v: boolean) {
    this.flag(AUTH_PENDING, v);
  }

  get authStarted(): boolean {
    return (this.bits & AUTH_STARTED) !== 0;
  }
  set authStarted(v: boolean) {
    this.flag(AUTH_STARTED, v);
  }

  /** Has output waiting for flush() (and is on the reactor's flush list or being read). */
  get dirty(): boolean {
    return (this.bits & DIRTY) !== 0;
  }
  set dirty(v: boolean) {
    this.flag(DIRTY, v);
  }

  /** The transport's native socket still exists (its close callback has not run). */
  get alive(): boolean {
    return (this.bits & ALIVE) !== 0;
  }
  set alive(v: boolean) {
    this.flag(ALIVE, v);
  }

  /** What the authenticator returned at upgrade, if anything. */
  get identity(): unknown {
    return this.rare === null ? undefined : this.rare.identity;
  }
  set identity(v: unknown) {
    if (v !== undefined || this.rare !== null) this.more().identity = v;
  }

  /** Handlers' per-connection slot. */
  get state(): unknown {
    return this.rare === null ? undefined : this.rare.state;
  }
  set state(v: unknown) {
    if (v !== undefined || this.rare !== null) this.more().state = v;
  }

  /** Async calls not yet answered, so they can be cancelled when the connection goes. */
  get calls(): Set<Call> | null {
    return this.rare === null ? null : this.rare.calls;
  }
  set calls(v: Set<Call> | null) {
    if (v !== null || this.rare !== null) this.more().calls = v;
  }

  protected get pendingClose(): { code: number; reason: string } | null {
    return this.rare === null ? null : this.rare.pendingClose;
  }
  protected set pendingClose(v: { code: number; reason: string } | null) {
    if (v !== null || this.rare !== null) this.more().pendingClose = v;
  }

  private flag(bit: number, v: boolean): void {
    this.bits = v ? this.bits | bit : this.bits & ~bit;
  }

  private more(): Rare {
    return this.rare ?? (this.rare = new Rare());
  }

  /** Reactor clock (ms) of the last inbound traffic; drives the idle timeout. */
  get lastSeen(): number {
    return this.seen + EPOCH;
  }
  set lastSeen(ms: number) {
    this.seen = ms - EPOCH;
  }

  /**
   * Send one buffer now (`cork` is false when already inside a native callback).
   * Returns false when the bytes left at once, true when some may be buffered.
   */
  protected abstract transportSend(bytes: Uint8Array, cork: boolean): boolean;
  protected abstract transportClose(code: number, reason: string): void;
  /** Drop the native socket now, with whatever it still buffers. */
  protected abstract transportAbort(): void;
  abstract bufferedAmount(): number;

  /** Sends a keep-alive ping where the transport has one (WebSocket); others just idle out. */
  ping(): void {}

  /** Bytes of unfinished input this connection holds (TCP: the stream decoder's buffer). */
  protected inputHeld(): number {
    return 0;
  }

  /** Bytes held for this connection: unfinished input, output queued here and output the transport buffers. */
  heldBytes(): number {
    return this.outBytes + this.bufferedAmount() + this.inputHeld();
  }

  write(bytes: Uint8Array): void {
    if (!this.open || !this.makeRoom(bytes.length)) return this.owner.unsent(this, bytes.length);
    const q = this.q ?? (this.q = new OutQueue());
    if (q.rangeBuf !== null) q.closeRange();
    q.push(bytes);
    this.queued(bytes.length);
  }

  /** Queues buf[start..end], which the caller never rewrites (an append-only encoder slab). */
  writeRange(buf: Buffer, start: number, end: number): void {
    if (!this.open || !this.makeRoom(end - start)) return this.owner.unsent(this, end - start);
    const q = this.q ?? (this.q = new OutQueue());
    if (q.rangeBuf === buf && q.rangeEnd === start) {
      q.rangeEnd = end;
    } else {
      if (q.rangeBuf !== null) q.closeRange();
      q.rangeBuf = buf;
      q.rangeStart = start;
      q.rangeEnd = end;
    }
    this.queued(end - start);
  }

  /** One message carries at most COALESCE_MAX bytes of several answers: send what is queued first. False if that closed the connection. */
  private makeRoom(bytes: number): boolean {
    if (this.outBytes > 0 && this.outBytes + bytes > COALESCE_MAX) this.flush(this.owner.reading !== this);
    return this.open;
  }

  private queued(bytes: number): void {
    this.outBytes += bytes;
    if (this.outBytes > this.owner.maxBackpressure) {
      // Output queued in ringloop alone passes the bound: send it now so the check in flush() applies.
      this.flush(this.owner.reading !== this);
      return;
    }
    if (!this.dirty) {
      this.dirty = true;
      if (this.coalesce || this.owner.reading !== this) this.owner.scheduleFlush(this);
    }
  }

  /** Sends everything queued as one transport write, then enforces --max-backpressure. */
  flush(cork: boolean): void {
    this.dirty = false;
    const n = this.outBytes;
    const q = this.q;
    if (q === null) return;
    if (n === 0) {
      q.clear(); // nothing, or only empty buffers
      return;
    }
    const out = q.take(n);
    this.outBytes = 0;
    if (!this.open) return this.owner.unsent(this, n);
    const backedUp = this.transportSend(out, cork);
    this.owner.sent(this, n);
    if (backedUp) this.owner.memory?.hold(this);
    if (backedUp && this.open && this.bufferedAmount() > this.owner.maxBackpressure) this.overBound();
  }

  /** The peer is not reading and --max-backpressure is passed. */
  protected overBound(): void {
    this.close(CloseCode.POLICY_VIOLATION, 'client not reading: backpressure limit exceeded');
  }

  /**
   * Closes at once and frees what is held for it (the memory budget): output
   * queued here or buffered by the transport is dropped (counted as unsent),
   * so the close frame may not arrive.
   */
  abort(code: number, reason: string): void {
    if (this.outBytes > 0) {
      this.owner.unsent(this, this.outBytes);
      this.q!.clear();
      this.outBytes = 0;
    }
    if (this.open) this.transportClose(code, reason);
    this.transportAbort();
  }

  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (!this.open) return;
    // Answers already queued go out before the close frame (closing may end the turn early).
    if (this.outBytes > 0) this.flush(this.owner.reading !== this);
    if (!this.open) return; // that flush passed --max-backpressure and closed with 1008
    this.transportClose(code, reason);
  }
}

/**
 * A connection's output for this turn: whole buffers in `chunks`, then an open
 * byte range of an encoder slab (rangeBuf[rangeStart..rangeEnd]) that
 * consecutive slab-encoded answers extend, so those cost no Buffer each and
 * no concatenation.
 */
class OutQueue {
  chunks: Uint8Array[] | null = null;
  rangeBuf: Buffer | null = null;
  rangeStart = 0;
  rangeEnd = 0;

  closeRange(): void {
    this.push(this.rangeBuf!.subarray(this.rangeStart, this.rangeEnd));
    this.rangeBuf = null;
  }

  push(chunk: Uint8Array): void {
    if (this.chunks === null) this.chunks = [chunk];
    else this.chunks.push(chunk);
  }

  clear(): void {
    this.chunks = null;
    this.rangeBuf = null;
  }

  /** Everything queued (n bytes) as one buffer; the queue is empty afterwards. */
  take(n: number): Uint8Array {
    let out: Uint8Array;
    if (this.chunks === null) {
      out = this.rangeBuf!.subarray(this.rangeStart, this.rangeEnd);
      this.rangeBuf = null;
    } else {
      if (this.rangeBuf !== null) this.closeRange();
      const chunks = this.chunks;
      out = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n);
      this.chunks = null;
    }
    return out;
  }
}
