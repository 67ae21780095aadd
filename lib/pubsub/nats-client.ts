/**
 * The parts of the official NATS client (@nats-io/transport-node 3.x) that
 * ringloop uses, typed here: the package's typings re-export from a package
 * subpath (`@nats-io/nats-core/internal`, an "exports" entry) that this
 * project's `moduleResolution: node` cannot follow. Runtime loading is plain
 * require, which follows "exports".
 */
export interface NatsHeaders {
  get(key: string): string;
  set(key: string, value: string): void;
}

export interface NatsMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers?: NatsHeaders;
}

export interface NatsSubscription {
  unsubscribe(): void;
}

export interface NatsConnection {
  readonly info?: { max_payload: number };
  publish(subject: string, data: Uint8Array, options?: { headers?: NatsHeaders }): void;
  subscribe(subject: string, options: { callback: (err: Error | null, msg: NatsMsg) => void }): NatsSubscription;
  status(): AsyncIterable<{ type: string }>;
  closed(): Promise<void | Error>;
  drain(): Promise<void>;
  close(): Promise<void>;
  getServer(): string;
}

export interface NatsConnectOptions {
  servers: string[];
  name?: string;
  maxReconnectAttempts?: number;
  waitOnFirstConnect?: boolean;
  reconnectTimeWait?: number;
  reconnectJitter?: number;
  noEcho?: boolean;
}

interface NatsModule {
  connect(options: NatsConnectOptions): Promise<NatsConnection>;
  headers(): NatsHeaders;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const nats = require('@nats-io/transport-node') as NatsModule;
