/**
 * Raw-TCP MessagePack-RPC on node:net: the same reactor, handlers, limits and
 * metrics as WebSocket. Where WebSocket would close with a code, TCP ends the
 * socket. Backpressure pauses reading instead of buffering without limit.
 */
import cluster from 'node:cluster';
import net from 'node:net';
import tls from 'node:tls';
import { BaseConnection } from '../reactor/connection';
import { StreamDecoder } from '../protocol/stream';
import { lingerMs, type Transport, type TransportHost } from './transport';
import { internAddress } from './intern';


export function tcpAddress(addr: string | undefined): string {
  if (!addr) return 'unknown';
  return internAddress(addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr);
}

export class TcpConnection extends BaseConnection {
  readonly decoder: StreamDecoder;
  private paused = false;

  constructor(
    host: TransportHost,
    readonly socket: net.Socket,
  ) {
    super(host, 'tcp', tcpAddress(socket.remoteAddress), host.clock);
    this.decoder = new StreamDecoder(host.options.maxPayload);
  }

  protected transportSend(bytes: Uint8Array): boolean {
    return !this.socket.write(bytes) || this.socket.writableLength > 0;
  }

  /** Over --max-backpressure: stop reading (no new requests) until the socket drains. */
  protected override overBound(): void {
    // Below Node's highWaterMark no 'drain' will come; the buffer is small then anyway.
    if (!this.paused && this.socket.writableNeedDrain) {
      this.paused = true;
      this.socket.pause();
    }
  }

  drained(): void {
    if (this.paused && this.open) {
      this.paused = false;
      this.socket.resume();
    }
  }

  protected transportClose(code: number, reason: string): void {
    const s = this.socket;
    // Mark closed now (TCP has no synchronous close callback), then let queued bytes leave.
    (this.owner as TransportHost).connectionClosed(this, code, reason);
    s.end();
    // A peer that never reads its last answers is cut like a WebSocket one (shutdown cuts at its deadline).
    setTimeout(() => s.destroy(), lingerMs(this.owner as TransportHost)).unref();
  }

  bufferedAmount(): number {
    return this.open ? this.socket.writableLength : 0;
  }

  protected override inputHeld(): number {
    return this.decoder.held;
  }

  protected transportAbort(): void {
    this.socket.destroy();
  }
}

export class TcpTransport implements Transport {
  readonly name = 'tcp';
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private boundPort = 0;

  constructor(private readonly host: TransportHost) {
    const m = host.tls;
    this.server = m
      ? tls.createServer({ cert: m.cert, key: m.key, ca: m.ca, passphrase: m.passphrase }, (socket) => this.accept(socket))
      : net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    if (m) this.server.on('tlsClientError', (e) => host.log.debug({ err: e.message }, 'tls handshake failed'));
  }

  private accept(socket: net.Socket): void {
    const host = this.host;
    if (host.draining || host.admit(tcpAddress(socket.remoteAddress)) !== null) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.sockets.add(socket);
    const conn = new TcpConnection(host, socket);
    if (host.authenticator !== null) {
      conn.authPending = true;
      setTimeout(() => {
        if (conn.authPending && conn.open) {
          host.authFailed('tcp', conn.remoteAddress, 'no auth request in time');
          conn.close(1008, 'authentication timeout');
        }
      }, host.options.authTimeout * 1000).unref();
    }
    socket.on('error', (e) => host.log.debug({ conn: conn.id, err: e.message }, 'tcp socket error'));
    socket.on('close', () => {
      this.sockets.delete(socket);
      host.connectionClosed(conn, 1006, 'socket closed');
      host.released(conn);
    });
    socket.on('drain', () => {
      host.touched(conn); // a peer that reads is alive even if it sends nothing
      conn.drained();
      host.writable(conn);
    });
    socket.on('data', (chunk: Buffer) => {
      if (!conn.open) return;
      const err = conn.decoder.push(chunk, (messages) => host.frame(conn, messages));
      if (conn.decoder.buffered > 0) host.memory?.hold(conn); // an unfinished message: count it against --max-buffered-total
      if (err !== null && conn.open) {
        host.log.debug({ conn: conn.id, err }, 'closing tcp connection: bad input');
        host.metrics.protocolErrors.labels({ code: err === 'invalid' ? '1007' : '1009' }).inc();
        conn.close(err === 'invalid' ? 1007 : 1009, err);
      }
    });
    host.connectionOpened(conn);
  }

  /** `port`: resumeAccepting listens again on the port first bound. */
  listen(port = this.host.options.tcpPort ?? 0): Promise<number> {
    const { host } = this.host.options;
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => reject(new Error(`cannot listen on tcp ${host}:${port} (${e.code ?? e.message})`));
      this.server.once('error', onError);
      // Not exclusive: reactor processes of one server share the listening socket through the cluster primary.
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        this.boundPort = (this.server.address() as net.AddressInfo).port;
        resolve(this.boundPort);
      });
    });
  }

  lingering(): number {
    return this.sockets.size;
  }

  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  pauseAccepting(): void {
    this.stopAccepting();
  }

  resumeAccepting(): Promise<void> {
    if (this.server.listening || this.host.draining || this.boundPort === 0) return Promise.resolve();
    // In a cluster worker the primary holds the socket, keyed by the port asked for: ask again the same way.
    return this.listen(cluster.isWorker ? (this.host.options.tcpPort ?? 0) : this.boundPort).then(() => undefined);
  }

  closeAll(): void {
    this.stopAccepting();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}
