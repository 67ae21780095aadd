/**
 * Public types of the load-generator engine (`runLoad`), later exposed as
 * `ringloop load`.
 */

/** Transport of a load target, from the URL scheme. */
export type LoadTransport = 'ws' | 'wss' | 'tcp' | 'tls';

/** How the echo payload is encoded: a MessagePack str or a bin. */
export type PayloadType = 'str' | 'bin';

/** A parsed target URL. */
export interface LoadTarget {
  transport: LoadTransport;
  host: string;
  port: number;
  /** Request path with query string, WebSocket only (`/` when absent). */
  path: string;
  /** The URL as given. */
  url: string;
}

/** Options of `runLoad`. Only `url` is required. */
export interface LoadOptions {
  /** `ws://HOST:PORT[/path]`, `wss://…`, `tcp://HOST:PORT` (raw MessagePack-RPC stream) or `tls://HOST:PORT`. */
  url: string;
  /** Connections opened (default 8). */
  connections?: number;
  /** Frames (TCP writes) in flight per connection (default 32). */
  pipeline?: number;
  /** Requests per frame (default 1). */
  batch?: number;
  /** Measured seconds (default 5). */
  durationS?: number;
  /** Seconds of traffic before measuring; discarded (default 0). */
  warmupS?: number;
  /** Method called (default `echo`). */
  method?: string;
  /** Payload size in bytes for `echo` (default 32). */
  payloadBytes?: number;
  /** Payload encoding for `echo` (default `str`). */
  payloadType?: PayloadType;
  /** Params sent instead of `[payload]` (any method). */
  params?: readonly unknown[];
  /**
   * Check that each successful result is byte-identical to the first param as
   * sent (meaningful for `echo` of str/bin); mismatches are counted in
   * `report.mismatches`. Costs one compare per response (default false).
   */
  verify?: boolean;
  /**
   * The server sends every frame back untouched (a ceiling measurement, not
   * MessagePack-RPC): an echoed request `[0, msgid, method, params]` counts as
   * the result for msgid (default false).
   */
  rawEcho?: boolean;
  /** Extra HTTP headers of the WebSocket handshake (e.g. `Authorization`). */
  headers?: Readonly<Record<string, string>>;
  /** For wss:// and tls://: accept any certificate (default false). */
  insecure?: boolean;
  /** Handshakes in progress at once while connecting (default 256). */
  connectConcurrency?: number;
  /** Give up connecting after this long (default 10,000 ms). */
  connectTimeoutMs?: number;
  /**
   * After the measured window, wait this long for responses still in flight
   * (they are not counted in the rates); those still missing are `unanswered`
   * (default 2,000 ms; 0 = close at once).
   */
  drainTimeoutMs?: number;
  /** Called as each phase begins: `warmup` (traffic starts), `measure` (the window opens), `drain` (the window closes). */
  onPhase?: (phase: 'warmup' | 'measure' | 'drain') => void;
  /** Called every `progressIntervalMs` (default 1,000 ms) while running. */
  onProgress?: (progress: LoadProgress) => void;
  progressIntervalMs?: number;
}

/** Periodic progress while `runLoad` runs. */
export interface LoadProgress {
  phase: 'warmup' | 'measure';
  /** Seconds since the phase started. */
  elapsedS: number;
  /** Responses in the phase so far. */
  responses: number;
  /** Responses per second over the last interval. */
  intervalRate: number;
  openConnections: number;
}

/** Latency percentiles of one request, frame sent to response received, in milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  min: number;
  mean: number;
  /** Responses the percentiles are computed over. */
  count: number;
}

/** The result of `runLoad`. Counts cover the measured window only, except where noted. */
export interface LoadReport {
  url: string;
  transport: LoadTransport;
  connections: number;
  pipeline: number;
  batch: number;
  method: string;
  payloadBytes: number;
  payloadType: PayloadType;
  warmupS: number;
  /** Measured window, seconds, as timed. */
  durationS: number;
  /** Requests sent during the window. */
  requests: number;
  /** Responses received during the window (results + errors). */
  responses: number;
  /** Responses with a nil error. */
  results: number;
  /** Error responses, by `code` of the error map (`<non-map>` when it has none). */
  errors: Record<string, number>;
  /** Responses per second over the window. */
  requestsPerSecond: number;
  /** Frames received per second over the window (WebSocket binary messages or TCP reads). */
  framesPerSecond: number;
  latencyMs: LatencySummary;
  /** Results not byte-identical to the param sent (only with `verify`). */
  mismatches: number;
  /** Messages that were not a response to an outstanding request (unknown or repeated msgid, notifications, non-responses). */
  unexpected: number;
  /** Responses that arrived after the window, while draining (whole run). */
  late: number;
  /** Requests still unanswered when the connections were closed (whole run). */
  unanswered: number;
  /** Connections closed by the server or failed before the end (whole run). */
  droppedConnections: number;
  /** Close codes received from the server (whole run; `tcp-eof` / `error:<code>` for others). */
  closes: Record<string, number>;
  /** Protocol violations by the server (bad frames, invalid MessagePack) (whole run). */
  protocolErrors: number;
}
