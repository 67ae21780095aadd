/** `connect()` options, their defaults, and the checks that turn a bad value into a clear error. */

export interface ReconnectPolicy {
  /** Delay before the first retry (ms). Default 100. */
  initialDelay?: number;
  /** Upper bound of the delay (ms). Default 5000. */
  maxDelay?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Fraction of each delay drawn at random (0 = none, 1 = full jitter). Default 0.5. */
  jitter?: number;
  /** Give up after this many failed attempts in a row (queued calls then fail with RECONNECT_FAILED). Default Infinity. */
  maxAttempts?: number;
}

export interface ClientOptions {
  /** Sent as `Authorization: Bearer TOKEN` in Node, as `?token=TOKEN` in browsers (which cannot set headers). Not used over TCP. */
  token?: string;
  /** Default per-call timeout (ms); 0 = none. Default 30000. */
  timeout?: number;
  /** `false` disables reconnecting. Default: the ReconnectPolicy defaults. */
  reconnect?: ReconnectPolicy | false;
  /** Calls (and notifications) held while disconnected or while `maxInFlight` are unanswered; one more fails with QUEUE_FULL. Default 1000. */
  maxQueued?: number;
  /** Calls sent and unanswered on one connection (the server's --max-inflight); later ones wait in the queue. Default 1024. */
  maxInFlight?: number;
  /** Largest message sent or received (the server's --max-payload). Default 1 MiB. */
  maxMessageBytes?: number;
  /** Bytes the socket may hold unsent; beyond, calls and notifications wait in the queue (bounded by maxQueued). Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Node WebSocket: ping interval (ms); a server that answers neither ping nor anything else within one interval is dropped and replaced. 0 = off. Default 15000. */
  pingInterval?: number;
  /** A connection attempt not open within this many ms is abandoned (and retried per `reconnect`). Default 10000. */
  connectTimeout?: number;
  /** Node only: TLS options for wss:// and tls:// (ca, rejectUnauthorized, servername, ...). */
  tls?: Record<string, unknown>;
}

export interface ResolvedOptions {
  token: string | undefined;
  timeout: number;
  reconnect: Required<ReconnectPolicy> | false;
  maxQueued: number;
  maxInFlight: number;
  maxMessageBytes: number;
  maxBufferedBytes: number;
  pingInterval: number;
  connectTimeout: number;
  tls: Record<string, unknown> | undefined;
}

const KNOWN = new Set(['token', 'timeout', 'reconnect', 'maxQueued', 'maxInFlight', 'maxMessageBytes', 'maxBufferedBytes', 'pingInterval', 'connectTimeout', 'tls']);
const RECONNECT_KNOWN = new Set(['initialDelay', 'maxDelay', 'factor', 'jitter', 'maxAttempts']);

function num(where: string, v: unknown, def: number, min: number, max: number, integer = false): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max || (integer && v !== Infinity && !Number.isInteger(v))) {
    throw new TypeError(`ringloop client: option ${where} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${String(v)}`);
  }
  return v;
}

function checkKeys(where: string, o: object, known: Set<string>): void {
  for (const k of Object.keys(o)) if (!known.has(k)) throw new TypeError(`ringloop client: unknown option ${where}${k}`);
}

export function resolveOptions(o: ClientOptions | undefined): ResolvedOptions {
  if (o === undefined || o === null) o = {};
  if (typeof o !== 'object') throw new TypeError('ringloop client: options must be an object');
  checkKeys('', o, KNOWN);
  if (o.token !== undefined && (typeof o.token !== 'string' || o.token === '')) throw new TypeError('ringloop client: option token must be a non-empty string');
  if (o.tls !== undefined && (typeof o.tls !== 'object' || o.tls === null)) throw new TypeError('ringloop client: option tls must be an object');
  let reconnect: ResolvedOptions['reconnect'] = false;
  if (o.reconnect !== false) {
    const r = o.reconnect ?? {};
    if (typeof r !== 'object' || r === null) throw new TypeError('ringloop client: option reconnect must be false or an object');
    checkKeys('reconnect.', r, RECONNECT_KNOWN);
    const initialDelay = num('reconnect.initialDelay', r.initialDelay, 100, 0, 3_600_000);
    reconnect = {
      initialDelay,
      maxDelay: num('reconnect.maxDelay', r.maxDelay, Math.max(5000, initialDelay), initialDelay, 3_600_000),
      factor: num('reconnect.factor', r.factor, 2, 1, 100),
      jitter: num('reconnect.jitter', r.jitter, 0.5, 0, 1),
      maxAttempts: num('reconnect.maxAttempts', r.maxAttempts, Infinity, 0, Infinity, true),
    };
  }
  return {
    token: o.token,
    timeout: num('timeout', o.timeout, 30000, 0, 2 ** 31 - 1),
    reconnect,
    maxQueued: num('maxQueued', o.maxQueued, 1000, 0, 1e9, true),
    maxInFlight: num('maxInFlight', o.maxInFlight, 1024, 1, 2 ** 31 - 1, true),
    maxMessageBytes: num('maxMessageBytes', o.maxMessageBytes, 1024 * 1024, 64, 2 ** 31 - 1, true),
    maxBufferedBytes: num('maxBufferedBytes', o.maxBufferedBytes, 4 * 1024 * 1024, 0, 2 ** 40, true),
    pingInterval: num('pingInterval', o.pingInterval, 15000, 0, 2 ** 31 - 1),
    connectTimeout: num('connectTimeout', o.connectTimeout, 10000, 1, 2 ** 31 - 1),
    tls: o.tls,
  };
}

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter. */
export function backoffDelay(policy: Required<ReconnectPolicy>, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelay, policy.initialDelay * Math.pow(policy.factor, attempt));
  return base * (1 - policy.jitter) + base * policy.jitter * random();
}

/** Parses and checks a server URL; throws a TypeError naming what is wrong. */
export function parseUrl(url: string | URL, allowed: readonly string[]): URL {
  if (typeof url !== 'string' && !(url instanceof URL)) throw new TypeError(`ringloop client: url must be a string, got ${typeof url}`);
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    throw new TypeError(`ringloop client: invalid url ${JSON.stringify(String(url))}`);
  }
  if (!allowed.includes(u.protocol)) {
    throw new TypeError(`ringloop client: unsupported url scheme ${u.protocol} in ${String(url)} (use ${allowed.map((p) => p + '//').join(', ')})`);
  }
  if (u.hostname === '') throw new TypeError(`ringloop client: url ${String(url)} has no host`);
  if ((u.protocol === 'tcp:' || u.protocol === 'tls:') && u.port === '') throw new TypeError(`ringloop client: url ${String(url)} needs a port`);
  return u;
}
