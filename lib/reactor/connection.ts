/**
 * The transport-independent half of a connection: output batching and the
 * backpressure bound. Transports subclass it with the three native calls.
 */
import type { Connection, TransportKind } from './types';
import type { Call } from '../rpc/call';
import { CloseCode } from '../errors';

/** What a connection needs from the reactor that owns it. */
export interface ConnectionOwner {
  readonly maxBackpressure: number;
  /** The connection being read right now; its output is flushed when the read ends. */
  readonly reading: BaseConnection | null;
  scheduleFlush(conn: BaseConnection): void;
  /** One transport write of `bytes` bytes (for metrics). */
  sent(conn: BaseConnection, bytes: number): void;
}

let nextId = 1;

export abstract class BaseConnection implements Connection {
  readonly id = nextId++;
  open = true;
  inflight = 0;
  identity: unknown = undefined;
  state: unknown = undefined;
  /** Reactor clock (ms) of the last inbound traffic; drives the idle timeout. */
  lastSeen: number;
  /** A keep-alive ping is outstanding. */
  pinged = false;
  /** TCP with auth on: only `auth` is served until it succeeds. */
  authPending = false;
  authStarted = false;
  /** Async calls not yet answered, so they can be cancelled when the connection goes. */
  calls: Set<Call> | null = null;
  /** Responses queued this turn, sent as one frame by flush(): the first alone (the common case, no array), the rest in `more`. */
  private out: Uint8Array | null = null;
  private more: Uint8Array[] | null = null;
  private outBytes = 0;
  dirty = false;

  constructor(
    protected readonly owner: ConnectionOwner,
    readonly transport: TransportKind,
    readonly remoteAddress: string,
    now: number,
  ) {
    this.lastSeen = now;
  }

  /**
   * Send one buffer now (`cork` is false when already inside a native callback).
   * Returns false when the bytes left at once, true when some may be buffered.
   */
  protected abstract transportSend(bytes: Uint8Array, cork: boolean): boolean;
  protected abstract transportClose(code: number, reason: string): void;
  abstract bufferedAmount(): number;

  write(bytes: Uint8Array): void {
    if (!this.open) return;
    if (this.out === null) this.out = bytes;
    else if (this.more === null) this.more = [bytes];
    else this.more.push(bytes);
    this.outBytes += bytes.length;
    if (this.outBytes > this.owner.maxBackpressure) {
      // A single turn's output alone passes the bound: send it now so the check in flush() applies.
      this.flush(this.owner.reading !== this);
      return;
    }
    if (!this.dirty) {
      this.dirty = true;
      if (this.owner.reading !== this) this.owner.scheduleFlush(this);
    }
  }

  /** Sends everything queued as one transport write, then enforces --max-backpressure. */
  flush(cork: boolean): void {
    this.dirty = false;
    const out = this.out;
    if (out === null) return;
    const more = this.more;
    this.out = null;
    this.more = null;
    const n = this.outBytes;
    this.outBytes = 0;
    if (!this.open) return;
    const backedUp = this.transportSend(more === null ? out : Buffer.concat([out, ...more], n), cork);
    this.owner.sent(this, n);
    if (backedUp && this.open && this.bufferedAmount() > this.owner.maxBackpressure) this.overBound();
  }

  /** The peer is not reading and --max-backpressure is passed. */
  protected overBound(): void {
    this.close(CloseCode.POLICY_VIOLATION, 'client not reading: backpressure limit exceeded');
  }

  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (!this.open) return;
    this.out = null;
    this.more = null;
    this.outBytes = 0;
    this.transportClose(code, reason);
  }
}
