/**
 * The metrics ringloop exports (CONTRACT.md names the first seven). Children
 * are bound once here so the hot path only does `child.inc()`.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { ErrorCode } from '../errors';
import { CounterChild, Histogram, Registry, type Counter, type Gauge, type GaugeChild } from './registry';
import type { PoolObserver, TaskOutcome } from '../pool/pool';

const POOL_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const TASK_OUTCOMES: readonly TaskOutcome[] = ['ok', 'error', 'crashed', 'cancelled', 'discarded', 'expired', 'overloaded', 'closed'];

const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class RpcMetrics {
  readonly registry = new Registry();
  readonly connections: Record<'ws' | 'tcp', GaugeChild>;
  readonly connectionsOpened: Counter;
  readonly closes: Counter;
  readonly requests: Counter;
  readonly outcome: { ok: CounterChild };
  private readonly errorChildren = new Map<string, CounterChild>();
  readonly duration: Histogram;
  readonly notifications: CounterChild;
  readonly notificationsDropped: CounterChild;
  readonly framesIn: CounterChild;
  readonly bytesIn: CounterChild;
  readonly protocolErrors: Counter;
  readonly authFailures: Counter;
  readonly sentBy: Record<'ws' | 'tcp', { writes: CounterChild; bytes: CounterChild; unsent: CounterChild }>;
  readonly poolQueueDepth: GaugeChild;
  readonly poolTasks: Counter;
  readonly poolRun: Histogram;
  readonly poolWait: Histogram;
  private readonly poolBusy: Counter;
  private readonly poolUtilization: Gauge;
  private readonly poolWorkers: GaugeChild;
  private readonly poolRestarts: Counter;
  private readonly lag: IntervalHistogram;

  constructor(inflight: () => number) {
    const r = this.registry;
    const conns = r.gauge('ringloop_connections', 'Open client connections, by transport.');
    this.connections = { ws: conns.labels({ transport: 'ws' }), tcp: conns.labels({ transport: 'tcp' }) };
    this.connectionsOpened = r.counter('ringloop_connections_opened_total', 'Connections accepted, by transport.');
    this.closes = r.counter('ringloop_connection_closes_total', 'Connections closed, by transport and close code.');
    this.requests = r.counter('ringloop_rpc_requests_total', 'RPC requests answered, by outcome (ok or the error code).');
    this.outcome = { ok: this.requests.labels({ outcome: 'ok' }) };
    for (const code of Object.values(ErrorCode)) this.errorChildren.set(code, this.requests.labels({ outcome: code }));
    this.duration = r.histogram('ringloop_rpc_duration_seconds', 'Time from reading a request to queueing its answer.', DURATION_BUCKETS);
    r.gauge('ringloop_rpc_inflight', 'Async requests and notifications running now.').collect({}, inflight);
    this.notifications = r.counter('ringloop_rpc_notifications_total', 'Notifications run.').labels();
    this.notificationsDropped = r
      .counter('ringloop_rpc_notifications_dropped_total', 'Notifications not run (unknown method, over --max-inflight, or draining).')
      .labels();
    this.framesIn = r.counter('ringloop_frames_received_total', 'Binary frames (WebSocket) or reads (TCP) received.').labels();
    this.bytesIn = r.counter('ringloop_bytes_received_total', 'Payload bytes received.').labels();
    const writes = r.counter('ringloop_writes_total', 'Transport writes (WebSocket frames / TCP writes) sent, by transport.');
    const bytesOut = r.counter('ringloop_bytes_sent_total', 'Payload bytes sent, by transport.');
    const unsent = r.counter(
      'ringloop_unsent_bytes_total',
      'Bytes of answers still queued in ringloop, or produced later, when their connection had closed (the client closed or disconnected first), by transport.',
    );
    const by = (transport: 'ws' | 'tcp') => ({
      writes: writes.labels({ transport }),
      bytes: bytesOut.labels({ transport }),
      unsent: unsent.labels({ transport }),
    });
    this.sentBy = { ws: by('ws'), tcp: by('tcp') };
    this.authFailures = r.counter('ringloop_auth_failures_total', 'Clients refused by the authenticator, by transport.');
    this.protocolErrors = r.counter('ringloop_protocol_errors_total', 'Connections closed for bad input, by close code.');
    this.poolQueueDepth = r.gauge('ringloop_pool_queue_depth', 'Tasks waiting for a worker.').labels();
    this.poolTasks = r.counter('ringloop_pool_tasks_total', 'Worker-pool tasks, by outcome.');
    for (const o of TASK_OUTCOMES) this.poolTasks.labels({ outcome: o });
    this.poolRun = r.histogram('ringloop_pool_task_run_seconds', 'Time a pool worker spent running a task.', POOL_BUCKETS);
    this.poolWait = r.histogram(
      'ringloop_pool_task_wait_seconds',
      'Time from queueing a pool task to its answer, less its run time (waiting queue, rings, wake-ups).',
      POOL_BUCKETS,
    );
    this.poolBusy = r.counter('ringloop_pool_worker_busy_seconds_total', 'Seconds each pool worker spent running task code (async methods: their synchronous part only).');
    this.poolUtilization = r.gauge('ringloop_pool_worker_utilization', 'Share of time each pool worker spent running tasks since the previous scrape (0..1).');
    this.poolWorkers = r.gauge('ringloop_pool_workers', 'Pool workers serving.').labels();
    this.poolRestarts = r.counter('ringloop_pool_worker_restarts_total', 'Pool workers replaced after exiting, by worker and exit code.');
    this.lag = monitorEventLoopDelay({ resolution: 10 });
    this.lag.enable();
    const lagGauge = r.gauge('ringloop_event_loop_lag_seconds', 'Mean event-loop delay since the previous scrape.');
    lagGauge.collect({}, () => {
      const v = Number.isNaN(this.lag.mean) ? 0 : this.lag.mean / 1e9;
      return v;
    });
    r.gauge('ringloop_event_loop_lag_max_seconds', 'Largest event-loop delay since the previous scrape.').collect({}, () => this.lag.max / 1e9);
    r.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.').collect({}, () => process.memoryUsage.rss());
    r.gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.').collect({}, () => process.memoryUsage().heapUsed);
    r.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.').collect(
      {},
      () => Math.round((Date.now() - performance.now()) / 1000),
    );
  }

  /** Binds the pool metrics for `size` workers; the pool reports through the returned observer. */
  poolObserver(size: number): PoolObserver {
    const outcomes = new Map<TaskOutcome, CounterChild>();
    for (const o of TASK_OUTCOMES) outcomes.set(o, this.poolTasks.labels({ outcome: o }));
    const busy: CounterChild[] = [];
    for (let i = 0; i < size; i++) {
      const child = this.poolBusy.labels({ worker: String(i) });
      busy.push(child);
      let lastBusy = child.value;
      let lastAt = performance.now();
      this.poolUtilization.collect({ worker: String(i) }, () => {
        const now = performance.now();
        const u = now > lastAt ? (child.value - lastBusy) / ((now - lastAt) / 1000) : 0;
        lastBusy = child.value;
        lastAt = now;
        return Math.min(1, Math.max(0, u));
      });
    }
    const depth = this.poolQueueDepth;
    const run = this.poolRun;
    const wait = this.poolWait;
    const workers = this.poolWorkers;
    const restarts = this.poolRestarts;
    return {
      queueDepth: (n) => depth.set(n),
      outcome: (o) => outcomes.get(o)?.inc(),
      ran: (worker, runSeconds, waitSeconds, busySeconds) => {
        run.observe(runSeconds);
        wait.observe(waitSeconds);
        busy[worker]?.inc(busySeconds);
      },
      workers: (n) => workers.set(n),
      restarted: (worker, code) => restarts.labels({ worker: String(worker), code: String(code) }).inc(),
    };
  }

  countError(code: string): void {
    let c = this.errorChildren.get(code);
    if (c === undefined) this.errorChildren.set(code, (c = this.requests.labels({ outcome: code })));
    c.inc();
  }

  render(): string {
    const text = this.registry.render();
    this.lag.reset();
    return text;
  }

  close(): void {
    this.lag.disable();
  }
}
