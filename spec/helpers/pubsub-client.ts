/**
 * Pub/sub test clients over real sockets (WebSocket on `ws`, raw TCP on
 * node:net): responses are matched to calls, `ringloop.message`
 * notifications are collected in order per topic.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { UnpackrStream } from 'msgpackr';
import { decodeAny } from '../../lib/protocol/codec';
import { ReplyBook } from './replies';

export interface Message {
  topic: string;
  data: unknown;
}

/** Calls and replies as ReplyBook keeps them; `ringloop.message` notifications collected in `messages`. */
export abstract class PubClient extends ReplyBook {
  readonly messages: Message[] = [];
  readonly closed: Promise<{ code: number }>;
  protected resolveClosed!: (c: { code: number }) => void;
  private readonly watchers: Array<() => void> = [];

  constructor() {
    super();
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  abstract pause(): void;
  abstract resume(): void;
  abstract close(): void;

  protected override received(m: unknown): void {
    const a = m as unknown[];
    if (a[0] === 2 && a[1] === 'ringloop.message') {
      const [topic, data] = a[2] as [string, unknown];
      this.messages.push({ topic, data });
      for (const w of this.watchers.splice(0)) w();
      return;
    }
    super.received(m);
  }

  async subscribe(topic: string): Promise<void> {
    const r = await this.call('ringloop.subscribe', [topic]);
    if (r.error !== null) throw new Error(`subscribe ${topic}: ${r.error.code} ${r.error.message}`);
  }

  /** Resolves once `n` messages (in all) have arrived, or rejects after `ms`. */
  async waitFor(n: number, ms = 5000): Promise<Message[]> {
    const deadline = Date.now() + ms;
    while (this.messages.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`got ${this.messages.length} of ${n} messages`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.watchers.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.messages;
  }
}

export class WsPubClient extends PubClient {
  private constructor(readonly ws: WebSocket) {
    super();
    ws.on('close', (code) => this.resolveClosed({ code }));
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => {
      for (const m of decodeAny(data)) this.received(m);
    });
  }

  static connect(port: number, path = '/'): Promise<WsPubClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false });
      const c = new WsPubClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  protected send(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  close(): void {
    this.ws.close();
  }
}

export class TcpPubClient extends PubClient {
  private constructor(readonly socket: net.Socket) {
    super();
    socket.on('close', () => this.resolveClosed({ code: 1006 }));
    socket.on('error', () => undefined);
    const stream = new UnpackrStream({ useRecords: false, int64AsType: 'auto' } as never);
    socket.pipe(stream);
    stream.on('data', (m: unknown) => this.received(m));
  }

  static connect(port: number): Promise<TcpPubClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(new TcpPubClient(s)));
      s.once('error', reject);
    });
  }

  protected send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.end();
  }
}
