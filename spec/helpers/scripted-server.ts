/**
 * A tiny MessagePack-RPC WebSocket server (the `ws` library, real sockets)
 * whose answers a spec scripts per connection: answer, hold, refuse with
 * SHUTTING_DOWN, send goaway, close or reset. For the load client's
 * `--reconnect` behaviours that the real server only shows at a shutdown or
 * a restart.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeAny, encodeError, encodeNotification, encodeResult } from '../../lib/protocol/codec';

export interface Request {
  msgid: number;
  method: string;
  params: unknown[];
}

export class ScriptedConn {
  /** Requests received. */
  received = 0;
  /** Answered with a result (run). */
  ran = 0;
  /** Answered SHUTTING_DOWN (not run). */
  refused = 0;
  /** Received and never answered before the connection closed. */
  readonly held = new Set<number>();
  /** Close code and who closed first. */
  closedBy: 'client' | 'server' | null = null;
  closeCode: number | null = null;
  /** Requests still unanswered by this server when the client's close arrived. */
  unansweredAtClientClose = -1;
  goawaySent = false;
  private serverClosing = false;

  constructor(
    readonly index: number,
    readonly ws: WebSocket,
  ) {
    ws.on('close', (code) => {
      if (this.closedBy === null) {
        this.closedBy = 'client';
        this.unansweredAtClientClose = this.held.size;
      }
      this.closeCode = code;
    });
  }

  answer(r: Request): void {
    this.held.delete(r.msgid);
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ran++;
    this.ws.send(encodeResult(r.msgid, r.params[0]));
  }

  refuse(r: Request): void {
    this.held.delete(r.msgid);
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.refused++;
    this.ws.send(encodeError(r.msgid, { code: 'SHUTTING_DOWN', message: 'scripted' }));
  }

  goaway(reason: string): void {
    this.goawaySent = true;
    this.ws.send(encodeNotification('ringloop.goaway', [{ reason }]));
  }

  /** A close frame (what a draining server sends); held requests stay unanswered. */
  close(code: number): void {
    if (this.serverClosing) return;
    this.serverClosing = true;
    this.closedBy = 'server';
    this.ws.close(code);
  }

  /** No close frame: the TCP connection is destroyed. */
  reset(): void {
    if (this.serverClosing) return;
    this.serverClosing = true;
    this.closedBy = 'server';
    this.ws.terminate();
  }
}

/** Called for each request; it must answer, refuse or hold it (add it to `conn.held`). */
export type Script = (conn: ScriptedConn, r: Request) => void;

export class ScriptedServer {
  readonly conns: ScriptedConn[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private http: http.Server | null = null;
  port = 0;

  constructor(
    private readonly script: Script,
    onConnect?: (conn: ScriptedConn) => void,
  ) {
    this.wss.on('connection', (ws: WebSocket) => {
      const conn = new ScriptedConn(this.conns.length, ws);
      this.conns.push(conn);
      onConnect?.(conn);
      ws.on('message', (data: Buffer) => {
        for (const m of decodeAny(data)) {
          const [type, msgid, method, params] = m as [number, number, string, unknown[]];
          if (type !== 0) continue;
          conn.received++;
          this.script(conn, { msgid, method, params });
        }
      });
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Listens (again) on `port` (0: a free port, kept for later restarts). */
  listen(port = this.port): Promise<void> {
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', (req, socket, head) => this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req)));
    this.http = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Stops listening at once (new connections are refused); open connections stay. */
  stopListening(): void {
    this.http?.close();
    this.http = null;
  }

  close(): void {
    for (const c of this.conns) c.ws.terminate();
    this.stopListening();
  }

  get ran(): number {
    return this.conns.reduce((n, c) => n + c.ran, 0);
  }

  get refused(): number {
    return this.conns.reduce((n, c) => n + c.refused, 0);
  }
}
