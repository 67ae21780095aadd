/**
 * Reactor options: one table drives defaults, validation, the CLI flags and
 * the --config keys, so a bad value is refused the same way everywhere and the
 * message always names the option as the user wrote it (`--max-inflight`).
 */
import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors';
import { isTopic } from '../pubsub/topic';

export interface ReactorOptions {
  host: string;
  port: number;
  /** Raw-TCP MessagePack-RPC port, or null for off. */
  tcpPort: number | null;
  workers: number;
  /** Offloaded tasks waiting for a worker; over it: OVERLOADED at once. */
  poolQueue: number;
  /** Bytes of params of those waiting tasks; over it: OVERLOADED at once. */
  poolQueueBytes: number;
  maxPayload: number;
  maxInflight: number;
  maxBackpressure: number;
  /** Bytes all connections together may hold in unfinished input and unsent output; past it the largest holders are closed. */
  maxBufferedTotal: number;
  /** Seconds. */
  requestTimeout: number;
  /** Seconds; 0 = never. */
  idleTimeout: number;
  /** Seconds. */
  drainTimeout: number;
  /** 0 = unlimited. */
  maxConnections: number;
  /** 0 = unlimited. */
  maxConnectionsPerIp: number;
  authTokenFile: string | null;
  /** Seconds a TCP client has to send its `auth` request when auth is on. */
  authTimeout: number;
  tlsCert: string | null;
  tlsKey: string | null;
  tlsPassphrase: string | null;
  tlsCa: string | null;
  /** Linux: the reactor thread's own CPU (pool workers get the others), or null for no pinning. */
  reactorCpu: number | null;
  /** Linux: added to each pool worker thread's nice value (0 = off). */
  workerNice: number;
  /** Reactor processes serving the same ports (`ringloop serve`; an embedded reactor is one). */
  reactors: number;
  /** Topics one connection may be subscribed to. */
  maxSubscriptions: number;
  /** NATS servers carrying pub/sub between servers (`nats://HOST:PORT`), or null for off. */
  nats: string[] | null;
  /** NATS subject prefix: topic T travels as subject `natsPrefix.T`. */
  natsPrefix: string;
}

type Kind = 'string' | 'port' | 'int' | 'seconds' | 'path' | 'urls';

interface Spec {
  flag: string;
  key: keyof ReactorOptions;
  kind: Kind;
  min?: number;
  max?: number;
  nullable?: boolean;
  /** The value the word `auto` stands for, where allowed. */
  auto?: () => number;
  /** The flag may repeat (values are joined). */
  multiple?: boolean;
  help: string;
}

const MiB = 1024 * 1024;

/** Every reactor option, in --help order. */
export const OPTION_SPECS: readonly Spec[] = [
  { flag: 'host', key: 'host', kind: 'string', help: 'address to bind (default 127.0.0.1)' },
  { flag: 'port', key: 'port', kind: 'port', help: 'WebSocket + HTTP port, 0 = any free port (default 9000)' },
  { flag: 'tcp-port', key: 'tcpPort', kind: 'port', nullable: true, help: 'also serve raw-TCP MessagePack-RPC on this port (default off)' },
  { flag: 'reactors', key: 'reactors', kind: 'int', min: 1, max: 256, auto: () => availableParallelism(), help: 'reactor processes serving the same ports, each single-threaded; auto = one per core (default 1)' },
  { flag: 'workers', key: 'workers', kind: 'int', min: 1, max: 256, help: 'worker threads in the pool (default cores - 1, at least 1)' },
  { flag: 'pool-queue', key: 'poolQueue', kind: 'int', min: 1, max: 10_000_000, help: 'offloaded tasks waiting for a worker; more: OVERLOADED at once (default 4096)' },
  { flag: 'pool-queue-bytes', key: 'poolQueueBytes', kind: 'int', min: 1024, max: 16 * 1024 * MiB, help: 'bytes of params of waiting tasks; more: OVERLOADED at once (default 64 MiB)' },
  { flag: 'max-payload', key: 'maxPayload', kind: 'int', min: 16, max: 256 * MiB, help: 'largest accepted message in bytes (default 1 MiB)' },
  { flag: 'max-inflight', key: 'maxInflight', kind: 'int', min: 1, max: 1 << 20, help: 'unanswered requests per connection (default 1024)' },
  { flag: 'max-backpressure', key: 'maxBackpressure', kind: 'int', min: 1024, max: 1024 * MiB, help: 'unsent bytes per connection before it is closed with 1008 (default 1 MiB)' },
  {
    flag: 'max-buffered-total',
    key: 'maxBufferedTotal',
    kind: 'int',
    min: 64 * 1024,
    max: 1024 * 1024 * MiB,
    help: 'bytes all connections together may hold in unfinished messages and unsent output; past it the connections holding the most are closed, 1008 / TCP close (default 256 MiB)',
  },
  { flag: 'request-timeout', key: 'requestTimeout', kind: 'seconds', min: 0.001, max: 86400, help: 'seconds before an unanswered request gets TIMEOUT (default 30)' },
  { flag: 'idle-timeout', key: 'idleTimeout', kind: 'seconds', min: 0, max: 86400, help: 'close connections silent this many seconds, 0 = never (default 120)' },
  { flag: 'drain-timeout', key: 'drainTimeout', kind: 'seconds', min: 0.001, max: 3600, help: 'graceful-shutdown deadline in seconds (default 10)' },
  { flag: 'max-connections', key: 'maxConnections', kind: 'int', min: 0, max: 10_000_000, help: 'open connections in all (shared out among --reactors); 0 = what the file-descriptor limit can hold less a reserve, and a larger value is lowered to that; over it: HTTP 503 / TCP closed (default 0)' },
  { flag: 'max-connections-per-ip', key: 'maxConnectionsPerIp', kind: 'int', min: 0, max: 10_000_000, help: 'open connections per client address and reactor, 0 = unlimited (default 0)' },
  { flag: 'auth-token-file', key: 'authTokenFile', kind: 'path', nullable: true, help: 'file of accepted bearer tokens, one per line (default off)' },
  { flag: 'auth-timeout', key: 'authTimeout', kind: 'seconds', min: 0.01, max: 3600, help: 'seconds a TCP client has to send `auth [token]` when auth is on (default 5)' },
  { flag: 'tls-cert', key: 'tlsCert', kind: 'path', nullable: true, help: 'TLS certificate (PEM): serve wss://, https:// and TLS on --tcp-port (default off)' },
  { flag: 'tls-key', key: 'tlsKey', kind: 'path', nullable: true, help: 'TLS private key (PEM) (default off)' },
  { flag: 'tls-passphrase', key: 'tlsPassphrase', kind: 'string', nullable: true, help: 'passphrase of an encrypted --tls-key (default none)' },
  { flag: 'tls-ca', key: 'tlsCa', kind: 'path', nullable: true, help: 'CA bundle (PEM) sent with the certificate chain (default none)' },
  {
    flag: 'reactor-cpu',
    key: 'reactorCpu',
    kind: 'int',
    min: 0,
    max: 65535,
    nullable: true,
    help: 'Linux: run the reactor thread alone on this CPU, pool workers on the others; keeps latency flat while the pool is saturated (default off)',
  },
  {
    flag: 'worker-nice',
    key: 'workerNice',
    kind: 'int',
    min: 0,
    max: 19,
    help: 'Linux: lower the pool worker threads\' CPU priority by this much, so other work on their CPUs goes first (default 0)',
  },
  { flag: 'max-subscriptions', key: 'maxSubscriptions', kind: 'int', min: 1, max: 1_000_000, help: 'topics one connection may be subscribed to; more: OVERLOADED (default 1024)' },
  {
    flag: 'nats',
    key: 'nats',
    kind: 'urls',
    nullable: true,
    multiple: true,
    help: 'carry pub/sub between servers through NATS (nats://HOST:PORT; may repeat or be comma-separated) (default off)',
  },
  { flag: 'nats-prefix', key: 'natsPrefix', kind: 'string', help: 'NATS subject prefix: topic T travels as subject P.T (default ringloop)' },
];

export function defaultOptions(): ReactorOptions {
  return {
    host: '127.0.0.1',
    port: 9000,
    tcpPort: null,
    workers: Math.max(1, availableParallelism() - 1),
    poolQueue: 4096,
    poolQueueBytes: 64 * MiB,
    maxPayload: MiB,
    maxInflight: 1024,
    maxBackpressure: MiB,
    maxBufferedTotal: 256 * MiB,
    requestTimeout: 30,
    idleTimeout: 120,
    drainTimeout: 10,
    maxConnections: 0,
    maxConnectionsPerIp: 0,
    authTokenFile: null,
    authTimeout: 5,
    tlsCert: null,
    tlsKey: null,
    tlsPassphrase: null,
    tlsCa: null,
    reactorCpu: null,
    workerNice: 0,
    reactors: 1,
    maxSubscriptions: 1024,
    nats: null,
    natsPrefix: 'ringloop',
  };
}

/** Parses/validates one value given as a CLI string or a JSON config value. */
export function parseOptionValue(spec: Spec, raw: unknown): ReactorOptions[keyof ReactorOptions] {
  const name = `--${spec.flag}`;
  if (raw === null && spec.nullable) return null;
  if (spec.kind === 'urls') return parseUrls(name, raw);
  if (spec.kind === 'string' || spec.kind === 'path') {
    if (typeof raw !== 'string' || raw.length === 0) throw new ConfigError(`${name} must be a non-empty string`);
    return raw;
  }
  if (raw === 'auto' && spec.auto) return spec.auto();
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(raw)) n = Number(raw);
  else throw new ConfigError(`${name} must be a number${spec.auto ? ' or auto' : ''}, got ${JSON.stringify(raw)}`);
  if (!Number.isFinite(n)) throw new ConfigError(`${name} must be a finite number, got ${JSON.stringify(raw)}`);
  if (spec.kind === 'port') {
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name} must be an integer port 0..65535, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (spec.kind === 'int' && !Number.isInteger(n)) throw new ConfigError(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
    throw new ConfigError(`${name} must be between ${spec.min} and ${spec.max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const NATS_URL = /^(?:nats|tls):\/\/[^\s/,]+$/;

/** One or more `nats://HOST:PORT` URLs, as a string (comma-separated) or an array of them. */
function parseUrls(name: string, raw: unknown): string[] {
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((r) => {
    if (typeof r !== 'string') throw new ConfigError(`${name} must be nats://HOST:PORT URLs, got ${JSON.stringify(r)}`);
    return r.split(',').map((u) => u.trim());
  });
  if (parts.length === 0) throw new ConfigError(`${name} needs at least one URL`);
  for (const u of parts) if (!NATS_URL.test(u)) throw new ConfigError(`${name} must be nats://HOST:PORT URLs, got ${JSON.stringify(u)}`);
  return parts;
}

/** Validates a partial options object (as given to createReactor) and fills defaults. */
export function resolveOptions(partial: Partial<ReactorOptions> = {}): ReactorOptions {
  const out = defaultOptions();
  const known = new Set<string>(OPTION_SPECS.map((s) => s.key));
  for (const key of Object.keys(partial)) {
    if (!known.has(key)) throw new ConfigError(`unknown option ${JSON.stringify(key)}`);
  }
  for (const spec of OPTION_SPECS) {
    const v = partial[spec.key];
    if (v === undefined) continue;
    (out as unknown as Record<string, unknown>)[spec.key] = parseOptionValue(spec, v);
  }
  if ((out.tlsCert === null) !== (out.tlsKey === null)) throw new ConfigError('--tls-cert and --tls-key must be given together');
  if (out.tlsCert === null && (out.tlsPassphrase !== null || out.tlsCa !== null)) throw new ConfigError('--tls-passphrase and --tls-ca need --tls-cert and --tls-key');
  if (!isTopic(out.natsPrefix) || out.natsPrefix.length > 128) {
    throw new ConfigError('--nats-prefix must be tokens of [A-Za-z0-9_:-] joined by single dots (at most 128 bytes)');
  }
  if (out.tcpPort !== null && out.tcpPort !== 0 && out.tcpPort === out.port) throw new ConfigError('--tcp-port must differ from --port');
  // One CPU for one reactor thread: several reactors would share it.
  if (out.reactorCpu !== null && out.reactors > 1) throw new ConfigError('--reactor-cpu needs --reactors 1');
  return out;
}
