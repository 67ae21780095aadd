/**
 * Pub/sub between servers through NATS (CONTRACT.md, Pub/sub; FACTS.md, NATS).
 * Topic T travels as subject `PREFIX.T`, payload the packed data. This reactor
 * subscribes on NATS only to topics it has local subscribers for. It connects
 * in the background and reconnects forever; while disconnected publications are
 * dropped and counted, never queued, and RPC and local pub/sub go on.
 *
 * A server must not deliver its own publication twice: its reactors already
 * got it through the relay. Each publication carries a `Ringloop-Origin`
 * header with the server's id; messages carrying our own id are ignored, and
 * `noEcho` spares this connection its own messages altogether.
 *
 * Publications are handed to the NATS client once per event-loop turn: the
 * client flushes its buffer on a microtask, which runs after every uWS
 * message callback, so one at a time each publication was its own write (and
 * its own read and wakeup in nats-server and every receiving server). At
 * most 4096 publications or 1 MiB wait, then they go at once.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { nats, type NatsConnection, type NatsHeaders, type NatsMsg, type NatsSubscription } from './nats-client';
import type { GaugeChild } from '../metrics/registry';
import type { PubSubLink } from './pubsub';
import { isPlainValue } from './frame';
import { NativeBatch } from './batch';

export const ORIGIN_HEADER = 'Ringloop-Origin';

/**
 * The id shared by every reactor of one server: the supervisor sets
 * RINGLOOP_SERVER_ID before forking reactors; a lone process makes its own.
 */
export function serverId(): string {
  return (process.env.RINGLOOP_SERVER_ID ??= randomUUID());
}

export interface NatsBridgeOptions {
  servers: string[];
  prefix: string;
  log: Logger;
  connected: GaugeChild;
  /** A message from another server (or a plain NATS client), payload checked plain MessagePack. */
  deliver(topic: string, body: Uint8Array): void;
  dropped(reason: 'nats' | 'invalid'): void;
  /** Milliseconds between reconnect attempts (default 500). */
  reconnectWaitMs?: number;
}

/** NATS's default max_payload, assumed until the server tells its own. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export class NatsBridge implements PubSubLink {
  private nc: NatsConnection | null = null;
  private up = false;
  private closed = false;
  private readonly subs = new Map<string, NatsSubscription | null>();
  private readonly hdrs: NatsHeaders;
  /** Bytes the origin header adds to a message (they count against max_payload). */
  private readonly hdrBytes: number;
  private readonly id = serverId();
  private readonly prefix: string;
  private readonly log: Logger;
  /** Publications wait for the turn's end and leave in one write (same bounds as the uWS batch). */
  private readonly batch = new NativeBatch({ publish: (topic, body) => this.send(topic, body) });

  constructor(private readonly o: NatsBridgeOptions) {
    this.prefix = `${o.prefix}.`;
    this.log = o.log.child({ nats: o.servers.join(',') });
    this.hdrs = nats.headers();
    this.hdrs.set(ORIGIN_HEADER, this.id);
    this.hdrBytes = 64 + ORIGIN_HEADER.length + this.id.length;
  }

  get connected(): boolean {
    return this.up;
  }

  /** Starts connecting; never waits for NATS (the server serves without it). */
  start(): void {
    nats.connect({
      servers: this.o.servers,
      name: `ringloop ${this.id} pid ${process.pid}`,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      reconnectTimeWait: this.o.reconnectWaitMs ?? 500,
      reconnectJitter: 100,
      noEcho: true,
    }).then(
      (nc) => this.opened(nc),
      (e: unknown) => this.log.error({ err: (e as Error)?.message }, 'nats: cannot connect'),
    );
  }

  private opened(nc: NatsConnection): void {
    if (this.closed) {
      void nc.close();
      return;
    }
    this.nc = nc;
    this.setUp(true);
    this.log.info({ server: nc.getServer() }, 'nats connected');
    for (const t of this.subs.keys()) this.subs.set(t, this.sub(nc, t));
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.setUp(false);
          this.log.warn('nats disconnected: publications are dropped (counted) until it is back');
        } else if (s.type === 'reconnect') {
          // The client re-sends our subscriptions itself.
          this.setUp(true);
          this.log.info({ server: nc.getServer() }, 'nats reconnected');
        }
      }
    })().catch(() => undefined);
    void nc.closed().then(() => this.setUp(false));
  }

  private setUp(up: boolean): void {
    this.up = up;
    this.o.connected.set(up ? 1 : 0);
  }

  private sub(nc: NatsConnection, topic: string): NatsSubscription {
    return nc.subscribe(this.prefix + topic, { callback: (err, msg) => (err === null ? this.received(msg) : undefined) });
  }

  private received(msg: NatsMsg): void {
    if (msg.headers?.get(ORIGIN_HEADER) === this.id) return; // our own, already delivered through the relay
    // Subscriptions are literal PREFIX.topic subjects of checked topics: no topic check needed.
    const topic = msg.subject.slice(this.prefix.length);
    if (!isPlainValue(msg.data)) {
      this.o.dropped('invalid');
      return;
    }
    this.o.deliver(topic, msg.data);
  }

  interest(topic: string, on: boolean): void {
    const nc = this.nc;
    if (on) {
      this.subs.set(topic, nc !== null ? this.sub(nc, topic) : null);
    } else {
      this.subs.get(topic)?.unsubscribe();
      this.subs.delete(topic);
    }
  }

  publish(topic: string, body: Buffer): void {
    if (!this.up || this.nc === null) return this.o.dropped('nats');
    this.batch.publish(topic, body);
  }

  /** Hands one publication to the NATS client; one that finds it disconnected is dropped and counted. */
  private send(topic: string, body: Uint8Array): void {
    const nc = this.nc;
    if (!this.up || nc === null) return this.o.dropped('nats');
    try {
      // Data within max_payload but not with the header goes without it (only noEcho then spares us our own).
      if (body.length + this.hdrBytes <= this.maxBody()) nc.publish(this.prefix + topic, body, { headers: this.hdrs });
      else nc.publish(this.prefix + topic, body);
    } catch (e) {
      this.o.dropped('nats');
      this.log.debug({ err: (e as Error)?.message }, 'nats publish failed');
    }
  }

  maxBody(): number {
    return this.nc?.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  async close(): Promise<void> {
    this.batch.flush();
    this.closed = true;
    const nc = this.nc;
    this.nc = null;
    if (nc === null) return;
    try {
      await nc.drain();
    } catch {
      await nc.close().catch(() => undefined);
    }
    this.setUp(false);
  }
}
