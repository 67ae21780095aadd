/**
 * The dispatcher's side of an offloaded method: a Call that is also the
 * pool's task object (no second allocation per request). The dispatcher
 * settles a Call on timeout, disconnect and the shutdown deadline and then
 * calls abort(); here abort() also cancels the pool task, so a queued task
 * never runs and a running one's result is discarded.
 */
import type { Logger } from 'pino';
import { Call, type FrameClock } from '../rpc/call';
import type { BaseConnection } from '../reactor/connection';
import { TASK_NEW, type PoolTask, type PoolWorker, type WorkerPool } from './pool';

export interface PoolCallSink {
  poolDone(call: PoolCall, status: number, body: Uint8Array | null): void;
}

export class PoolCall extends Call implements PoolTask {
  poolState = TASK_NEW;
  poolMethod = 0;
  poolParams: Uint8Array | null = null;
  poolWorker: PoolWorker | null = null;
  poolSlot = -1;
  poolStart = 0;
  poolCost = 0;
  poolCancelledAt = 0;

  constructor(
    conn: BaseConnection,
    msgid: number,
    method: string,
    log: Logger,
    timeoutMs: number,
    clock: FrameClock,
    private readonly pool: WorkerPool,
    private readonly sink: PoolCallSink,
  ) {
    super(conn, msgid, method, log, timeoutMs, clock);
  }

  override abort(reason: string): void {
    super.abort(reason);
    this.pool.cancel(this);
  }

  poolDone(status: number, body: Uint8Array | null): void {
    this.sink.poolDone(this, status, body);
  }
}
