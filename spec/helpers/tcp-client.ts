/** A raw-TCP MessagePack-RPC test client: plain net.Socket, msgpackr's own stream decoder. */
import net from 'node:net';
import { UnpackrStream } from 'msgpackr';
import { ReplyBook } from './replies';

export class TcpRpcClient extends ReplyBook {
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    super();
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    const stream = new UnpackrStream({ useRecords: false, int64AsType: 'auto' } as never);
    socket.pipe(stream);
    stream.on('data', (m: unknown) => this.received(m));
  }

  static connect(port: number): Promise<TcpRpcClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(new TcpRpcClient(s)));
      s.once('error', reject);
    });
  }

  protected send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }

  close(): void {
    this.socket.end();
  }
}
