/**
 * Messages between the supervisor and its reactor processes (node:cluster IPC).
 * Small and rare (start-up, reload, shutdown, metrics scrapes): never on the request path.
 */
import type { ServeArgs } from '../cli/args';
import type { RelayPeer } from '../pubsub/relay';

/** What a reactor process is started with (env RINGLOOP_REACTOR, JSON). */
export interface ReactorSpec {
  /** Position in its generation, 0..reactors-1. */
  index: number;
  generation: number;
  args: ServeArgs;
  /** Its share of --workers. */
  workers: number;
  /** Reactors in its generation. */
  reactors: number;
}

export type ToReactor =
  /** Bind these ports now (sent once every reactor of the generation has loaded). */
  | { t: 'listen'; port: number; tcpPort: number | null }
  /** Hot restart: stop accepting (reply stopped-accepting). */
  | { t: 'stop-accepting' }
  /** Hot restart: goaway restart, serve until clients leave or the deadline, exit. */
  | { t: 'retire' }
  /** Graceful shutdown (goaway shutdown), then exit; `elapsedMs` of --drain-timeout already spent since the signal. */
  | { t: 'shutdown'; elapsedMs?: number }
  /** The supervisor wants this reactor's own Prometheus text. */
  | { t: 'snapshot'; id: number }
  /** The server's totals, answering this reactor's gather. */
  | { t: 'metrics'; id: number; text: string | null }
  /** Pub/sub: the live reactors' relay sockets (lib/pubsub/cluster.ts), whenever they change. */
  | { t: 'peers'; peers: RelayPeer[] };

export type FromReactor =
  | { t: 'loaded' }
  | { t: 'failed'; error: string }
  | { t: 'listening'; port: number; tcpPort: number | null; methods: string[]; transports: string[] }
  | { t: 'stopped-accepting' }
  | { t: 'snapshot'; id: number; text: string }
  /** GET /metrics reached this reactor: it needs the server's totals. */
  | { t: 'gather'; id: number }
  /** Pub/sub: this reactor's relay listens here. */
  | { t: 'relay'; peer: RelayPeer };

export const REACTOR_ENV = 'RINGLOOP_REACTOR';
