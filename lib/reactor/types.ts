/**
 * The small interfaces the reactor is built around (gnet's EventHandler idea):
 * transports produce Connections, the reactor dispatches their events to
 * EventHandler objects, and the MessagePack-RPC dispatcher is one of them.
 */
import type { Logger } from 'pino';

export type TransportKind = 'ws' | 'tcp';

/** One client connection, whatever its transport. */
export interface Connection {
  readonly id: number;
  readonly transport: TransportKind;
  readonly remoteAddress: string;
  /** False once the transport has closed; writes are then dropped. */
  readonly open: boolean;
  /** Requests received on this connection and not answered yet. */
  readonly inflight: number;
  /** What the authenticator returned at upgrade, if any. */
  identity: unknown;
  /** Free slot for handlers' per-connection state (undefined until set, to keep idle connections small). */
  state: unknown;
  /**
   * Queue bytes holding one or more complete MessagePack messages. What is
   * queued while one read is handled, or outside reads in one event-loop
   * turn, leaves in one corked write (one WebSocket message, several answers
   * merged up to 64 KiB).
   */
  write(bytes: Uint8Array): void;
  /** Close with a WebSocket close code (TCP just ends the socket). Idempotent. */
  close(code?: number, reason?: string): void;
  /** Bytes accepted by the transport but not yet sent to the peer. */
  bufferedAmount(): number;
}

/** A decoded, validated MessagePack-RPC message (requests and notifications only). */
export interface RpcMessage {
  readonly kind: 'request' | 'notification';
  /** The request's msgid; -1 for notifications. */
  readonly msgid: number;
  readonly method: string;
  readonly params: unknown[];
}

/** Reactor events. Every callback is optional and runs on the reactor thread; none may block. */
export interface EventHandler {
  onOpen?(conn: Connection): void;
  /** A decoded message arrived. Handlers must not keep `msg` beyond the call unless they copy what they need. */
  onReadable?(conn: Connection, msg: RpcMessage): void;
  /** The transport drained below its bound after backpressure. */
  onWritable?(conn: Connection): void;
  onClose?(conn: Connection, code: number, reason: string): void;
  /** Called periodically; returns the delay in ms before the next call, or undefined/≤0 to stop ticking. */
  onTick?(): number | void;
}

/** What a method implementation receives besides its params. */
export interface CallContext {
  readonly conn: Connection;
  /** The request's msgid, or -1 for a notification. */
  readonly msgid: number;
  readonly method: string;
  /** Absolute deadline (Date.now() milliseconds) after which the client gets TIMEOUT. */
  readonly deadline: number;
  readonly log: Logger;
  /** Aborted on timeout, client disconnect and the shutdown deadline. Created on first use. */
  readonly signal: AbortSignal;
}

export type MethodFn = (params: unknown[], ctx: CallContext) => unknown;

export interface MethodOptions {
  /** Per-method request timeout in seconds (defaults to the reactor's --request-timeout). */
  timeout?: number;
  /**
   * Run on the worker pool instead of the reactor thread. The method must be
   * registered by a plugin with a `module` path: each worker loads that module
   * and runs the plugin's setup to find it. In a worker, `ctx.conn` is undefined.
   */
  offload?: boolean;
  /** With `offload`: checks params on the reactor before queueing (throw RpcError), so bad params cost no round trip. */
  validate?: (params: unknown[]) => void;
}
