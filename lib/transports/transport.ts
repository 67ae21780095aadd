/**
 * What a transport needs from the reactor, and what the reactor needs from a
 * transport. Keeping this small lets WebSocket and raw TCP share everything else.
 */
import type { Logger } from 'pino';
import type { BaseConnection, ConnectionOwner } from '../reactor/connection';
import type { ReactorOptions } from '../reactor/options';
import type { RpcMetrics } from '../metrics/rpc-metrics';
import type { Authenticator } from '../auth/authenticator';
import type { TlsMaterial } from './tls';
import type { Listener } from '../reactor/reactor';

export interface TransportHost extends ConnectionOwner {
  readonly options: ReactorOptions;
  readonly log: Logger;
  readonly metrics: RpcMetrics;
  /** Coarse wall clock (ms), refreshed by the reactor tick. */
  readonly clock: number;
  readonly draining: boolean;
  /** Set when clients must authenticate (WebSocket at upgrade, TCP with a first `auth` request). */
  readonly authenticator: Authenticator | null;
  readonly tls: TlsMaterial | null;
  /** Why a new connection from `remote` must be refused now (connection limits), or null. */
  admit(remote: string): string | null;
  /** A client failed authentication (for metrics and logs). */
  authFailed(transport: 'ws' | 'tcp', remote: string, reason: string): void;
  connectionOpened(conn: BaseConnection): void;
  /** One WebSocket binary message: complete MessagePack-RPC messages back to back. Only valid during the call. */
  frame(conn: BaseConnection, bytes: Uint8Array): void;
  /** Inbound traffic that carries no message (a pong): keeps the connection from idling out. */
  touched(conn: BaseConnection): void;
  writable(conn: BaseConnection): void;
  connectionClosed(conn: BaseConnection, code: number, reason: string): void;
  /** The native socket behind a connection is gone (it may have lingered after connectionClosed to flush). */
  released(conn: BaseConnection): void;
  /** Prometheus text for GET /metrics (a promise where it is gathered from several reactors). */
  renderMetrics(): string | Promise<string>;
}

export interface Transport extends Listener {
  /** Resolves with the bound port. */
  listen(): Promise<number>;
  /** Close the listen sockets for now (descriptors ran out); open connections stay. */
  pauseAccepting(): void;
  /** Listen again on the same port after pauseAccepting (not once draining). */
  resumeAccepting(): Promise<void>;
}

/** How long a closed connection may take to flush before it is cut: the idle timeout, or 60 s without one. */
export function lingerMs(host: TransportHost): number {
  return host.options.idleTimeout > 0 ? host.options.idleTimeout * 1000 : 60_000;
}
