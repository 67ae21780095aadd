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
  /** For wss:// and tls://: PEM certificate(s) to trust besides the system's (e.g. a self-signed server's). */
  ca?: string;
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
  /**
   * Open loop: send this many requests per second in all (spread evenly over
   * the connections, frames of `batch` requests on a fixed schedule) whatever
   * the answers do, instead of resending each frame as soon as it is answered.
   * `pipeline` still bounds the frames in flight per connection; a frame due
   * while every slot is busy waits, and its latency counts from the time it
   * was due (no coordinated omission). Default: closed loop.
   */
  rate?: number;
  /** Spread the connections over this many worker threads and merge their histograms (default 1: this thread). */
  threads?: number;
  /**
   * Survive restarts and shutdowns without failed requests (CONTRACT.md, "Hot
   * restart"): on `ringloop.goaway` open a replacement connection for new
   * requests and let the old one finish; send again every request answered
   * `SHUTTING_DOWN` or left unanswered by a close, on a new connection opened
   * after a short backoff. Counted in `reconnects` and `resends`, not as
   * errors. Default false: goaway is an unexpected message, `SHUTTING_DOWN`
   * an error, a closed connection stays closed.
   */
  reconnect?: boolean;
  /** Aborting ends the current phase at once (warm-up or measured window); the report covers the time measured so far. */
  signal?: AbortSignal;
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
  /** Error responses in the phase so far. */
  errors: number;
  openConnections: number;
  /** `reconnect`: replacement connections opened and requests sent again so far (whole run). */
  reconnects: number;
  resends: number;
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
  /** Connections closed by the server or failed before the end (whole run), except those closed after goaway with nothing in flight. */
  droppedConnections: number;
  /** Close codes received from the server (whole run; `tcp-eof` / `error:<code>` for others). */
  closes: Record<string, number>;
  /** Protocol violations by the server (bad frames, invalid MessagePack) (whole run). */
  protocolErrors: number;
  /** Whether the run used `reconnect`; the four counts below stay 0 without it. */
  reconnect: boolean;
  /** `ringloop.goaway` notifications received (whole run). */
  goaways: number;
  /** Replacement connections opened after a goaway, a `SHUTTING_DOWN` answer or a close (whole run). */
  reconnects: number;
  /** Replacement connection attempts that failed and were retried after a backoff (whole run). */
  reconnectFailures: number;
  /**
   * Requests sent again because they were not run (answered `SHUTTING_DOWN`,
   * or unanswered when their connection closed) (whole run). A request sent
   * again counts once in `requests` and `responses`, and its latency counts
   * from its first send.
   */
  resends: number;
  /** `closed`: each frame is sent again as soon as it is answered; `open`: frames go out on a schedule (`rate`). */
  mode: 'closed' | 'open';
  /** Worker threads the connections ran on (1: the calling thread). */
  threads: number;
  /** Open loop only (null in closed loop): how well the schedule was kept during the window. */
  openLoop: OpenLoopReport | null;
  /** The load client itself during the window: is it the bottleneck? */
  client: ClientReport;
  /**
   * Whole run (warm-up, window and drain): what to compare with the server's
   * own counters (`ringloop_rpc_requests_total`).
   */
  total: {
    requests: number;
    responses: number;
    results: number;
    errors: Record<string, number>;
  };
}

/** How the open-loop schedule went during the measured window. */
export interface OpenLoopReport {
  /** Requests per second asked for. */
  targetRate: number;
  /** Requests per second actually sent during the window. */
  sendRate: number;
  /** Frames sent during the window. */
  frames: number;
  /** Frames sent more than 1 ms after their due time with a pipeline slot free: the client's own lag. */
  lateFrames: number;
  /** Frames that were due while every pipeline slot was busy and waited for an answer (server slower than the rate, or `pipeline` too small). */
  slotWaits: number;
  /** Largest delay between a frame's due time and its send, ms. */
  maxLagMs: number;
}

/** The load client's own use of the machine over the measured window. */
export interface ClientReport {
  /** CPU time of the client process over the window, in cores (1.0 = one core busy all the time). */
  cpuCores: number;
  /** Per load thread, the share of the window its event loop was busy (0..1; near 1 = that thread is saturated). */
  eventLoopUtilization: number[];
  /** True when the client was (or may have been) the bottleneck: the figures may understate the server. */
  saturated: boolean;
  /** Why `saturated` is set, and other warnings about the run (one sentence each). */
  notes: string[];
}
