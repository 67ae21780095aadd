/**
 * A small MessagePack-RPC server on the `ws` package whose behaviour a spec
 * scripts: it counts WebSocket messages, sends goaway on demand, answers
 * SHUTTING_DOWN, closes with 1001, stops answering, and keeps a minimal
 * pub/sub (CONTRACT.md semantics). Real sockets, for client specs that need
 * server behaviour the reactor does not offer on demand.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { Packr, Unpackr, type Options } from 'msgpackr';

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' } as unknown as Options);

export interface ScriptConn {
  ws: WebSocket;
  /** Requests per WebSocket message received, in order. */
  messages: number[];
  inflight: number;
  goneAway: boolean;
}

export class ScriptServer {
  readonly conns: ScriptConn[] = [];
  /** Answer SHUTTING_DOWN instead of running (per connection, after goaway('shutdown')). */
  refuseAfterGoaway = false;
  /** Stop answering requests and pings. */
  silent = false;
  private readonly topics = new Map<string, Set<ScriptConn>>();

  private constructor(readonly wss: WebSocketServer, readonly port: number) {
    wss.on('connection', (ws) => this.accept(ws));
  }

  static start(port = 0): Promise<ScriptServer> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({ host: '127.0.0.1', port, autoPong: false });
      wss.once('error', reject);
      wss.once('listening', () => resolve(new ScriptServer(wss, (wss.address() as { port: number }).port)));
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get open(): ScriptConn[] {
    return this.conns.filter((c) => c.ws.readyState === c.ws.OPEN);
  }

  private accept(ws: WebSocket): void {
    const c: ScriptConn = { ws, messages: [], inflight: 0, goneAway: false };
    this.conns.push(c);
    ws.on('ping', (d) => {
      if (!this.silent) ws.pong(d);
    });
    ws.on('close', () => {
      for (const set of this.topics.values()) set.delete(c);
    });
    ws.on('message', (data: Buffer) => {
      const msgs = unpackr.unpackMultiple(data) as unknown[][];
      c.messages.push(msgs.length);
      if (this.silent) return;
      for (const m of msgs) this.handle(c, m);
    });
  }

  private handle(c: ScriptConn, m: unknown[]): void {
    if (m[0] === 2) {
      const [, method, params] = m as [number, string, unknown[]];
      if (method === 'ringloop.publish') this.publish(params[0] as string, params[1]);
      return;
    }
    const [, id, method, params] = m as [number, number, string, unknown[]];
    if (c.goneAway && this.refuseAfterGoaway) return this.send(c, [1, id, { code: 'SHUTTING_DOWN', message: 'shutting down' }, null]);
    const answer = (result: unknown): void => this.send(c, [1, id, null, result]);
    switch (method) {
      case 'echo':
        return answer(params[0]);
      case 'sleep': {
        c.inflight++;
        setTimeout(() => {
          c.inflight--;
          answer(params[0]);
          if (c.goneAway && c.inflight === 0 && this.closeWhenIdle) c.ws.close(1001, 'going away');
        }, params[0] as number);
        return;
      }
      case 'whoami':
        return answer(this.conns.indexOf(c));
      case 'push':
        for (let i = 0; i < (params[0] as number); i++) this.send(c, [2, 'test.event', [i]]);
        return answer(true);
      case 'ringloop.subscribe': {
        const t = params[0] as string;
        if (!this.topics.has(t)) this.topics.set(t, new Set());
        this.topics.get(t)!.add(c);
        return answer(true);
      }
      case 'ringloop.unsubscribe':
        return answer(this.topics.get(params[0] as string)?.delete(c) ?? false);
      case 'ringloop.publish':
        this.publish(params[0] as string, params[1]);
        return answer(true);
      default:
        return this.send(c, [1, id, { code: 'METHOD_NOT_FOUND', message: `method ${method} not found` }, null]);
    }
  }

  /** Close each connection with 1001 once its sleeps are answered (after goaway). */
  closeWhenIdle = false;

  publish(topic: string, data: unknown): void {
    for (const c of this.topics.get(topic) ?? []) this.send(c, [2, 'ringloop.message', [topic, data]]);
  }

  subscribers(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  send(c: ScriptConn, msg: unknown[]): void {
    if (c.ws.readyState === c.ws.OPEN) c.ws.send(packr.pack(msg));
  }

  goaway(c: ScriptConn, reason = 'restart'): void {
    c.goneAway = true;
    this.send(c, [2, 'ringloop.goaway', [{ reason }]]);
    if (this.closeWhenIdle && c.inflight === 0) c.ws.close(1001, 'going away');
  }

  close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}
