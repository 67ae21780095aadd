/**
 * Pub/sub bookkeeping (CONTRACT.md "Pub/sub"): one server subscription per
 * topic whatever the number of local handlers, restored on every new
 * connection. Each topic listens to one connection at a time (the one whose
 * subscribe was confirmed last, switched as that answer is read), so a goaway
 * handover never doubles a message and loses one only if it was published at
 * the instant of the switch and read late on the old connection; after a lost
 * connection the restore reports the gap.
 */
import { ClientErrorCode, RingloopError } from './codes';
import type { Conn } from './client';
import { callEach } from './emitter';

export interface Subscription {
  readonly topic: string;
  /** Removes this handler; the server subscription goes with the topic's last handler. */
  unsubscribe(): Promise<void>;
}

export interface SubscriptionHost {
  call(method: string, params: unknown[]): Promise<unknown>;
  /** `onResult` runs as the answer is read, before the messages read after it (where a promise's then would be late). */
  callOn(conn: Conn, method: string, params: unknown[], onResult?: (conn: Conn) => void): Promise<{ result: unknown; conn: Conn }>;
  current(): Conn | null;
  /** Like call(), with the same `onResult`. */
  callTracked(method: string, params: unknown[], onResult?: (conn: Conn) => void): Promise<{ result: unknown; conn: Conn | undefined }>;
}

type Handler = (data: unknown, topic: string) => void;

interface Entry {
  readonly topic: string;
  readonly handlers: Set<Handler>;
  /** The connection this topic's messages are taken from; null while none is confirmed. */
  conn: Conn | null;
  /** The first subscribe has been answered. */
  settled: boolean;
  readonly ready: Promise<void>;
}

export interface RestoreResult {
  /** Topics re-subscribed after their connection was lost: messages published in between were missed. */
  topics: string[];
  failed: Array<{ topic: string; error: RingloopError }>;
}

export class Subscriptions {
  private readonly topics = new Map<string, Entry>();

  constructor(private readonly host: SubscriptionHost) {}

  async subscribe(topic: string, onMessage: Handler): Promise<Subscription> {
    if (typeof topic !== 'string' || topic === '') throw new TypeError('ringloop client: subscribe() needs a topic string');
    if (typeof onMessage !== 'function') throw new TypeError(`ringloop client: subscribe(${topic}) needs a handler function`);
    let e = this.topics.get(topic);
    if (!e) {
      const entry: Entry = { topic, handlers: new Set(), conn: null, settled: false, ready: undefined as unknown as Promise<void> };
      const confirmed = (conn: Conn): void => {
        entry.settled = true;
        if (this.topics.get(topic) === entry && conn.open) entry.conn = conn;
      };
      (entry as { ready: Promise<void> }).ready = this.host.callTracked('ringloop.subscribe', [topic], confirmed).then(
        () => undefined,
        (err: unknown) => {
          if (this.topics.get(topic) === entry) this.topics.delete(topic);
          throw err;
        },
      );
      this.topics.set(topic, (e = entry));
    }
    e.handlers.add(onMessage);
    const entry = e;
    await entry.ready;
    return { topic, unsubscribe: () => this.unsubscribe(entry, onMessage) };
  }

  private async unsubscribe(e: Entry, fn: Handler): Promise<void> {
    if (!e.handlers.delete(fn) || e.handlers.size > 0 || this.topics.get(e.topic) !== e) return;
    this.topics.delete(e.topic);
    if (this.host.current()?.open) await this.host.call('ringloop.unsubscribe', [e.topic]);
  }

  deliver(conn: Conn, topic: string, data: unknown): void {
    const e = this.topics.get(topic);
    if (!e || !(e.conn === conn || (e.conn === null && conn === this.host.current()))) return;
    callEach(e.handlers, data, topic);
  }

  /** Subscribes every confirmed topic on a newly opened connection (before any queued call). */
  async restore(conn: Conn): Promise<RestoreResult> {
    const result: RestoreResult = { topics: [], failed: [] };
    const work: Array<Promise<void>> = [];
    for (const e of this.topics.values()) {
      if (!e.settled || e.conn === conn) continue;
      const gap = e.conn === null;
      // Switched as the answer is read: messages after it on this connection are the topic's from now on.
      const confirmed = (): void => {
        if (this.topics.get(e.topic) !== e || !conn.open) return;
        e.conn = conn;
        if (gap) result.topics.push(e.topic);
      };
      work.push(
        this.host.callOn(conn, 'ringloop.subscribe', [e.topic], confirmed).then(
          () => undefined,
          (error: RingloopError) => {
            // The new connection died too: the next one restores again.
            if (error.code === ClientErrorCode.DISCONNECTED || error.code === ClientErrorCode.CLIENT_TIMEOUT || error.code === ClientErrorCode.CLIENT_CLOSED) return;
            if (this.topics.get(e.topic) === e) this.topics.delete(e.topic);
            result.failed.push({ topic: e.topic, error });
          },
        ),
      );
    }
    await Promise.all(work);
    return result;
  }

  dependsOn(conn: Conn): boolean {
    for (const e of this.topics.values()) if (e.conn === conn) return true;
    return false;
  }

  connectionClosed(conn: Conn): void {
    for (const e of this.topics.values()) if (e.conn === conn) e.conn = null;
  }

  clear(): void {
    this.topics.clear();
  }
}
