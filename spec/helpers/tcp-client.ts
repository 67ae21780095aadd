/** A raw-TCP MessagePack-RPC test client: plain net.Socket, msgpackr's own stream decoder. */
import net from 'node:net';
import { UnpackrStream } from 'msgpackr';
import { encodeNotification, encodeRequest } from '../../lib/protocol/codec';
import type { Reply } from './client';

export class TcpRpcClient {
  readonly replies: Reply[] = [];
  private waiters = new Map<number, (r: Reply) => void>();
  private nextId = 1;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    const stream = new UnpackrStream({ useRecords: false, int64AsType: 'auto' } as never);
    socket.pipe(stream);
    stream.on('data', (m: unknown) => {
      const [type, msgid, error, result] = m as [number, number, Reply['error'], unknown];
      if (type !== 1) throw new Error(`server sent message type ${type}`);
      const r: Reply = { msgid, error, result };
      this.replies.push(r);
      const w = this.waiters.get(msgid);
      if (w) {
        this.waiters.delete(msgid);
        w(r);
      }
    });
  }

  static connect(port: number): Promise<TcpRpcClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(new TcpRpcClient(s)));
      s.once('error', reject);
    });
  }

  id(): number {
    return this.nextId++;
  }

  reply(msgid: number): Promise<Reply> {
    const have = this.replies.find((r) => r.msgid === msgid);
    if (have) return Promise.resolve(have);
    return new Promise((resolve) => this.waiters.set(msgid, resolve));
  }

  call(method: string, params: unknown[]): Promise<Reply> {
    const id = this.id();
    this.socket.write(encodeRequest(id, method, params));
    return this.reply(id);
  }

  notify(method: string, params: unknown[]): void {
    this.socket.write(encodeNotification(method, params));
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }

  close(): void {
    this.socket.end();
  }
}
