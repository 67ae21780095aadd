/**
 * Pub/sub on one reactor (CONTRACT.md, Pub/sub). WebSocket subscribers ride
 * uWS's native topics: a publication is encoded once and uWS writes it to
 * every subscribed socket. TCP subscribers are a plain topic -> connections
 * table fed the same bytes. Links (the relay to the other reactors of this
 * server, the NATS bridge to other servers) carry the packed data onwards;
 * what arrives from them is delivered here only, never forwarded again.
 */
import type { Logger } from 'pino';
import { CloseCode, ErrorCode, RpcError } from '../errors';
import type { BaseConnection } from '../reactor/connection';
import type { ReactorOptions } from '../reactor/options';
import type { CallContext, Connection, EventHandler, MethodFn, MethodOptions } from '../reactor/types';
import type { RpcMetrics } from '../metrics/rpc-metrics';
import type { CounterChild } from '../metrics/registry';
import { WsConnection } from '../transports/websocket';
import { RESERVED_OWNER } from '../rpc/methods';
import { checkTopic } from './topic';
import { messageFrame, packData } from './frame';
import { NatsBridge } from './nats';
import { RelayLink, type RelayLinkOptions } from './relay-link';
import { NativeBatch } from './batch';
import type { Relay } from './relay';

export type TopicAction = 'subscribe' | 'publish';

/** What an authoriser is asked: may `conn` subscribe to / publish on `topic`? */
export interface TopicRequest {
  readonly conn: Connection;
  readonly action: TopicAction;
  readonly topic: string;
}

/**
 * Returns false to refuse (the client gets FORBIDDEN), true to allow; may
 * throw an RpcError to answer with its own code and message. Synchronous, so
 * a connection's publications stay in order. Publications made by server
 * code (`pubsub.publish`) are not asked.
 */
export type TopicAuthorizer = (req: TopicRequest) => boolean;

/** Somewhere publications travel besides this reactor: the reactor relay, NATS. */
export interface PubSubLink {
  /** A local publication: topic and its packed data (plain MessagePack). Must not throw. */
  publish(topic: string, body: Buffer): void;
  /** Local subscribers of `topic` went from 0 to some (true) or back to 0 (false). */
  interest?(topic: string, on: boolean): void;
  /** Largest packed data it can carry, or null for no limit of its own. */
  maxBody?(): number | null;
  close?(): Promise<void> | void;
}

/** What the pub/sub needs from its reactor (the Reactor implements it). */
export interface PubSubHost {
  readonly options: ReactorOptions;
  readonly log: Logger;
  readonly metrics: RpcMetrics;
  readonly maxBackpressure: number;
  addMethod(name: string, fn: MethodFn, options: MethodOptions, owner: string): void;
  handler(h: EventHandler): unknown;
  onShutdown(fn: () => unknown, owner?: string): unknown;
  onBoot(fn: () => unknown, owner?: string): unknown;
}

/** uWS's app-level publish (WebSocketTransport implements it). */
export interface NativePublisher {
  publish(topic: string, bytes: Uint8Array): void;
}

export const PUBSUB_OWNER = RESERVED_OWNER;

/** What plugins and embedding code use (PluginScope.pubsub, Reactor.pubsub). */
export interface PubSubApi {
  publish(topic: string, data: unknown): void;
  subscribe(conn: Connection, topic: string): boolean;
  unsubscribe(conn: Connection, topic: string): boolean;
  authorize(fn: TopicAuthorizer): void;
  topicsOf(conn: Connection): string[];
  subscribers(topic: string): number;
}

export class PubSub implements EventHandler, PubSubApi {
  private readonly log: Logger;
  private native: NativeBatch | null = null;
  private readonly links: PubSubLink[] = [];
  private readonly authorizers: TopicAuthorizer[] = [];
  /** Topics of each subscribed connection. */
  private readonly byConn = new Map<BaseConnection, Set<string>>();
  /** Per topic: WebSocket subscribers (uWS holds the sockets) and TCP subscribers. */
  private readonly topics = new Map<string, { ws: number; tcp: Set<BaseConnection> }>();
  private pairs = 0;
  private readonly maxSubs: number;
  private readonly maxBackpressure: number;
  private readonly published: CounterChild;
  private readonly delivered: CounterChild;
  private readonly droppedBy: (reason: string) => CounterChild;
  /** Bytes handed to uWS for WebSocket subscribers since the last slow-subscriber sweep. */
  private sinceSweep = 0;
  private sweepPending = false;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly host: PubSubHost) {
    this.log = host.log;
    this.maxSubs = host.options.maxSubscriptions;
    this.maxBackpressure = host.maxBackpressure;
    const r = host.metrics.registry;
    r.gauge('ringloop_pubsub_subscriptions', 'Connection-topic subscription pairs.').collect({}, () => this.pairs);
    const messages = r.counter('ringloop_pubsub_messages_total', 'Publications accepted from clients and server code (published), and messages sent to subscriber connections (delivered).');
    this.published = messages.labels({ direction: 'published' });
    this.delivered = messages.labels({ direction: 'delivered' });
    const dropped = r.counter('ringloop_pubsub_dropped_total', 'Publications not carried on, by reason (nats: NATS disconnected; invalid: payload from NATS not plain MessagePack; relay: a reactor link over its bound).');
    const children = new Map<string, CounterChild>();
    this.droppedBy = (reason) => {
      let c = children.get(reason);
      if (c === undefined) children.set(reason, (c = dropped.labels({ reason })));
      return c;
    };
    this.registerMethods();
    host.handler(this);
    host.onShutdown(() => this.close(), PUBSUB_OWNER);
    const servers = host.options.nats;
    if (servers !== null) {
      const bridge = new NatsBridge({
        servers,
        prefix: host.options.natsPrefix,
        log: this.log,
        connected: r.gauge('ringloop_nats_connected', '1 while connected to NATS (--nats), else 0.').labels(),
        deliver: (topic, body) => this.deliverRemote(topic, body),
        dropped: (reason) => this.dropped(reason),
      });
      this.addLink(bridge);
      host.onBoot(() => bridge.start(), PUBSUB_OWNER);
    }
  }

  /** Called once the WebSocket transport exists. */
  attach(native: NativePublisher): void {
    this.native = new NativeBatch(native);
  }

  addLink(link: PubSubLink): void {
    this.links.push(link);
    for (const t of this.topics.keys()) link.interest?.(t, true);
  }

  /** Adds an authoriser; every authoriser must allow a client's subscribe or publish. */
  authorize(fn: TopicAuthorizer): void {
    if (typeof fn !== 'function') throw new TypeError('authorize() needs a function');
    this.authorizers.push(fn);
  }

  /**
   * Joins the relay between the reactor processes of one server: listens on
   * `listenPath`; the caller then passes the live reactors to `setPeers` on
   * the returned Relay whenever they change. Publications here reach every
   * peer's subscribers; a peer that cannot keep up is cut and counted
   * (`ringloop_pubsub_dropped_total{reason="relay"}`), see lib/pubsub/relay.ts.
   */
  async startRelay(o: Omit<RelayLinkOptions, 'deliver' | 'dropped' | 'log'>): Promise<Relay> {
    const link = new RelayLink({
      ...o,
      log: this.log,
      deliver: (topic, body) => this.deliverRemote(topic, body),
      dropped: (frames) => this.dropped('relay', frames),
    });
    await link.relay.listen();
    // Before NATS: a publication reaches this server's reactors first.
    this.links.unshift(link);
    return link.relay;
  }

  /** Counts a publication a link could not carry (never silent). */
  dropped(reason: string, n = 1): void {
    this.droppedBy(reason).inc(n);
  }

  // ---- server-side API ----

  /**
   * Publishes `data` on `topic` to every subscriber of this server (and, with
   * links, of the other reactors and servers). Throws RpcError INVALID_PARAMS
   * for a bad topic or data that cannot travel.
   */
  publish(topic: string, data: unknown): void {
    this.publishChecked(checkTopic(topic), data);
  }

  /** Subscribes a connection (e.g. from a method handler: `pubsub.subscribe(ctx.conn, topic)`). Returns true. */
  subscribe(conn: Connection, topic: string): boolean {
    return this.add(conn as BaseConnection, checkTopic(topic));
  }

  /** True if the connection was subscribed. */
  unsubscribe(conn: Connection, topic: string): boolean {
    return this.remove(conn as BaseConnection, checkTopic(topic));
  }

  /** Topics `conn` is subscribed to. */
  topicsOf(conn: Connection): string[] {
    return [...(this.byConn.get(conn as BaseConnection) ?? [])];
  }

  /** Local subscribers of a topic (this reactor only). */
  subscribers(topic: string): number {
    const e = this.topics.get(topic);
    return e === undefined ? 0 : e.ws + e.tcp.size;
  }

  /** A message from another reactor or server: delivered to this reactor's subscribers only. */
  deliverRemote(topic: string, body: Uint8Array): void {
    const e = this.topics.get(topic);
    if (e === undefined) return;
    this.deliver(topic, e, messageFrame(topic, body));
  }

  // ---- internals ----

  private registerMethods(): void {
    const add = (name: string, fn: MethodFn): void => this.host.addMethod(name, fn, {}, PUBSUB_OWNER);
    add('ringloop.subscribe', (params, ctx) => {
      const topic = checkTopic(params[0]);
      this.allow(ctx, 'subscribe', topic);
      return this.add(ctx.conn as BaseConnection, topic);
    });
    add('ringloop.unsubscribe', (params, ctx) => this.remove(ctx.conn as BaseConnection, checkTopic(params[0])));
    add('ringloop.publish', (params, ctx) => {
      const topic = checkTopic(params[0]);
      if (params.length < 2) throw new RpcError(ErrorCode.INVALID_PARAMS, 'params must be [topic, data]');
      this.allow(ctx, 'publish', topic);
      this.publishChecked(topic, params[1]);
      return true;
    });
  }

  private allow(ctx: CallContext, action: TopicAction, topic: string): void {
    for (const fn of this.authorizers) {
      if (fn({ conn: ctx.conn, action, topic }) !== true) throw new RpcError(ErrorCode.FORBIDDEN, `not allowed to ${action} on topic ${JSON.stringify(topic)}`);
    }
  }

  private publishChecked(topic: string, data: unknown): void {
    const body = packData(data);
    for (const l of this.links) {
      const max = l.maxBody?.() ?? null;
      if (max !== null && body.length > max) throw new RpcError(ErrorCode.INVALID_PARAMS, `data is ${body.length} bytes of MessagePack, over the ${max}-byte limit of NATS (max_payload)`);
    }
    this.published.inc();
    const e = this.topics.get(topic);
    if (e !== undefined) this.deliver(topic, e, messageFrame(topic, body));
    for (const l of this.links) l.publish(topic, body);
  }

  private deliver(topic: string, e: { ws: number; tcp: Set<BaseConnection> }, frame: Buffer): void {
    if (e.ws > 0 && this.native !== null) {
      this.native.publish(topic, frame);
      this.delivered.inc(e.ws);
      this.sinceSweep += frame.length;
      this.scheduleSweep();
    }
    if (e.tcp.size > 0) {
      const bound = this.maxBackpressure;
      for (const c of e.tcp) {
        // A TCP subscriber that stops reading is closed like a WebSocket one (pausing its reads would not stop publications).
        if (c.bufferedAmount() > bound) {
          c.close(CloseCode.POLICY_VIOLATION, 'subscriber not reading: backpressure limit exceeded');
          continue;
        }
        c.write(frame);
        this.delivered.inc();
      }
    }
  }

  /**
   * uWS sends topic messages at the end of the loop iteration and drops none
   * (its own limit is off), so a slow WebSocket subscriber shows up in its
   * buffered amount afterwards. Sweep once a quarter of --max-backpressure has
   * been published since the last sweep (and 50 ms after any publication), so
   * no subscriber passes the bound by more than that before it is closed 1008.
   */
  private scheduleSweep(): void {
    if (this.sinceSweep >= this.maxBackpressure / 4) {
      if (!this.sweepPending) {
        this.sweepPending = true;
        setImmediate(() => this.sweep());
      }
    } else if (this.sweepTimer === null) {
      this.sweepTimer = setTimeout(() => this.sweep(), 50);
      this.sweepTimer.unref();
    }
  }

  private sweep(): void {
    this.sweepPending = false;
    if (this.sweepTimer !== null) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    this.sinceSweep = 0;
    const bound = this.maxBackpressure;
    for (const c of this.byConn.keys()) {
      if (c instanceof WsConnection && c.open && c.bufferedAmount() > bound) {
        this.log.debug({ conn: c.id, buffered: c.bufferedAmount() }, 'closing slow subscriber');
        c.close(CloseCode.POLICY_VIOLATION, 'subscriber not reading: backpressure limit exceeded');
      }
    }
  }

  private add(conn: BaseConnection, topic: string): boolean {
    if (!conn.open) return true;
    let set = this.byConn.get(conn);
    if (set?.has(topic)) return true;
    if ((set?.size ?? 0) >= this.maxSubs) {
      throw new RpcError(ErrorCode.OVERLOADED, `more than ${this.maxSubs} subscriptions on this connection (--max-subscriptions)`);
    }
    if (set === undefined) this.byConn.set(conn, (set = new Set()));
    set.add(topic);
    this.pairs++;
    let e = this.topics.get(topic);
    const first = e === undefined;
    if (e === undefined) this.topics.set(topic, (e = { ws: 0, tcp: new Set() }));
    if (conn instanceof WsConnection) {
      this.native?.flush(); // publications made before this subscribe are not for it
      conn.topicSubscribe(topic);
      e.ws++;
    } else {
      e.tcp.add(conn);
    }
    if (first) for (const l of this.links) l.interest?.(topic, true);
    return true;
  }

  private remove(conn: BaseConnection, topic: string): boolean {
    const set = this.byConn.get(conn);
    if (set === undefined || !set.delete(topic)) return false;
    if (set.size === 0) this.byConn.delete(conn);
    this.drop(conn, topic);
    return true;
  }

  private drop(conn: BaseConnection, topic: string): void {
    this.pairs--;
    const e = this.topics.get(topic)!;
    if (conn instanceof WsConnection) {
      conn.topicUnsubscribe(topic);
      e.ws--;
    } else {
      e.tcp.delete(conn);
    }
    if (e.ws === 0 && e.tcp.size === 0) {
      this.topics.delete(topic);
      for (const l of this.links) l.interest?.(topic, false);
    }
  }

  onClose(conn: Connection): void {
    const c = conn as BaseConnection;
    const set = this.byConn.get(c);
    if (set === undefined) return;
    this.byConn.delete(c);
    for (const t of set) this.drop(c, t);
  }

  async close(): Promise<void> {
    this.native?.flush();
    if (this.sweepTimer !== null) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    for (const l of this.links) {
      try {
        await l.close?.();
      } catch (e) {
        this.log.warn({ err: (e as Error)?.message }, 'pub/sub link failed to close');
      }
    }
  }
}
