/**
 * A server-wide bound on the bytes connections hold (native-notes/memory-budget.md).
 *
 * Why: every per-connection bound (`--max-payload` for a message being
 * assembled, `--max-backpressure` for unsent output) multiplies by the number
 * of connections: 200 TCP clients each holding an unfinished 1 MiB message
 * held ~300 MB. `--max-buffered-total` caps the sum; past it, the connections
 * holding the most are closed at once (1008 / TCP close) until the rest fit.
 *
 * What is counted, per connection (BaseConnection.heldBytes): the TCP stream
 * decoder's buffer for an unfinished message, output queued in ringloop this
 * turn, and output the transport still buffers (uWS's backpressure buffer,
 * node:net's writable buffer). Not counted, because uWS does not expose it: a
 * WebSocket message uWS is still assembling (fragments or a partly received
 * frame), which `--max-payload` bounds per connection.
 *
 * Cost: nothing per message. A connection is re-measured (O(1)) when it may
 * hold more (a send that did not leave at once, a TCP read that ended inside a
 * message) and the running total checked then, so a burst is caught as it
 * arrives; while any connection holds bytes, all of them are re-measured every
 * SWEEP_MS and those holding nothing are dropped from the watch list.
 */
import type { Logger } from 'pino';
import type { Registry } from '../metrics/registry';
import type { BaseConnection } from './connection';
import { CloseCode } from '../errors';

const SWEEP_MS = 50;

export interface BudgetHost {
  readonly options: { readonly maxBufferedTotal: number };
  readonly log: Logger;
  readonly metrics: { readonly registry: Registry };
}

export class MemoryBudget {
  /** Connections that may hold bytes, with what they held when last measured. */
  private readonly watched = new Map<BaseConnection, number>();
  /** Sum of the values in `watched`. */
  private total = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Bytes held at the last sweep or enforcement (for the gauge). */
  held = 0;
  private readonly closes;

  constructor(private readonly host: BudgetHost) {
    const r = host.metrics.registry;
    this.closes = r.counter(
      'ringloop_memory_budget_closes_total',
      'Connections closed because the bytes held by all connections (unfinished input, unsent output) passed --max-buffered-total, by transport.',
    );
    this.closes.labels({ transport: 'ws' });
    this.closes.labels({ transport: 'tcp' });
    r.gauge('ringloop_buffered_bytes', 'Bytes held by connections in unfinished input and unsent output, at the last check (while any is held).').collect({}, () => this.held);
  }

  get limit(): number {
    return this.host.options.maxBufferedTotal;
  }

  /**
   * `conn` may hold more bytes now: re-measure it (O(1)) and enforce the
   * budget at once when the running total passes it, so a burst cannot
   * outrun the periodic sweep. Watched until it holds nothing.
   */
  hold(conn: BaseConnection): void {
    const n = conn.heldBytes();
    this.total += n - (this.watched.get(conn) ?? 0);
    this.watched.set(conn, n);
    if (this.total > this.limit) this.enforce();
    else if (this.timer === null) this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(this.sweep, SWEEP_MS);
    this.timer.unref();
  }

  /** Re-measures every watched connection (output drains, input completes); enforces the budget. */
  readonly sweep = (): void => {
    this.timer = null;
    this.measure();
    if (this.total > this.limit) this.enforce();
    this.held = this.total;
    if (this.watched.size > 0 && this.timer === null) this.schedule();
  };

  private measure(): void {
    let total = 0;
    for (const c of this.watched.keys()) {
      const n = c.open ? c.heldBytes() : 0;
      if (n === 0) this.watched.delete(c);
      else {
        this.watched.set(c, n);
        total += n;
      }
    }
    this.total = total;
  }

  /** Closes the connections holding the most until the rest fit in the budget. */
  private enforce(): void {
    this.measure();
    const limit = this.limit;
    if (this.total <= limit) return;
    const largest = [...this.watched].sort((a, b) => b[1] - a[1]);
    let closed = 0;
    let freed = 0;
    for (const [c, n] of largest) {
      if (this.total <= limit) break;
      this.total -= n;
      freed += n;
      closed++;
      this.watched.delete(c);
      this.closes.labels({ transport: c.transport }).inc();
      c.abort(CloseCode.POLICY_VIOLATION, 'server memory budget exceeded');
    }
    this.held = this.total;
    this.host.log.warn({ closed, freed, held: this.total, limit }, 'connections closed: bytes held by all connections passed --max-buffered-total');
    if (this.watched.size > 0 && this.timer === null) this.schedule();
  }
}
