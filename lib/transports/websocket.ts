/**
 * WebSocket + HTTP on uWebSockets.js. Everything native-layer specific lives
 * here; see native-notes/ for the behaviours this file works around.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import { BaseConnection } from '../reactor/connection';
import { CloseCode } from '../errors';
import { loadUws, type Uws } from './uws-native';
import { lingerMs, type Transport, type TransportHost } from './transport';
import { internAddress } from './intern';
import { bearerToken, runAuthenticator, type AuthDecision, type AuthRequest } from '../auth/authenticator';
import { framingProblem, guardHttp, refuse, respond, type Fault } from './http-guard';
import { checkControlBacklog, nativePayloadLimit } from './ws-guard';

const BEARER = [['WWW-Authenticate', 'Bearer']] as const;
const PROMETHEUS = [['Content-Type', 'text/plain; version=0.0.4; charset=utf-8']] as const;

/**
 * uWS copies each user-data property onto the socket's JS object: one property, the
 * connection, made at upgrade (native-notes/memory-per-connection.md). Null once closed.
 */
interface WsData {
  conn: WsConnection | null;
}

function remoteOf(res: HttpResponse): string {
  return internAddress(normalizeAddress(Buffer.from(res.getRemoteAddressAsText()).toString()));
}

const MAPPED_V4 = /^(?:0000:){5}ffff:([0-9a-f]{4}):([0-9a-f]{4})$/i;

/** uWS reports IPv4 peers of a dual-stack socket as full-hex mapped IPv6; show them as dotted quads. */
export function normalizeAddress(text: string): string {
  const m = MAPPED_V4.exec(text);
  if (!m) return text;
  const hi = parseInt(m[1], 16);
  const lo = parseInt(m[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Close codes a server may send (RFC 6455 7.4): anything else becomes 1011. */
function safeCode(code: number): number {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999) ? code : 1011;
}

/** A close reason fits 123 bytes of UTF-8; cut on a character boundary, never inside one. */
export function safeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > 123) break;
    out += ch;
    bytes += n;
  }
  return out;
}

export class WsConnection extends BaseConnection {
  /** Set by the open handler: the connection is made at upgrade, before uWS has the socket. */
  ws!: WebSocket<WsData>;

  constructor(host: TransportHost, remote: string) {
    super(host, 'ws', remote, host.clock, true);
  }

  protected transportSend(bytes: Uint8Array, cork: boolean): boolean {
    // Outside a uWS callback an uncorked send costs one syscall each (FACTS.md).
    let status = 0;
    if (cork) this.ws.cork(() => (status = this.ws.send(bytes, true)));
    else status = this.ws.send(bytes, true);
    // 1 = written out with no backpressure: no need to ask uWS for the buffered amount.
    return status !== 1;
  }

  protected transportClose(code: number, reason: string): void {
    const sent = { code: safeCode(code), reason: safeReason(reason) };
    // The reactor sees the connection closed now (its calls are cancelled, later output dropped).
    (this.owner as TransportHost).connectionClosed(this, sent.code, sent.reason);
    if (!this.alive) return;
    // uWS force-closes an ended socket at its next timeout sweep (0-4 s), dropping
    // whatever is still buffered, close frame included: end only once the buffer is empty
    // (native-notes/end-timeout.md).
    this.pendingClose = sent;
    if (this.ws.getBufferedAmount() === 0) this.finishEnd();
    else setTimeout(() => this.abandon(), lingerMs(this.owner as TransportHost)).unref();
  }

  /** uWS drained some output. Returns true when this connection was only waiting to end. */
  drained(): boolean {
    if (this.pendingClose === null) return false;
    if (this.alive && this.ws.getBufferedAmount() === 0) this.finishEnd();
    return true;
  }

  private finishEnd(): void {
    const e = this.pendingClose!;
    this.ws.cork(() => this.ws.end(e.code, e.reason));
  }

  /** The peer never read its buffered output: give up on it. */
  private abandon(): void {
    if (this.alive) this.ws.close();
  }

  bufferedAmount(): number {
    return this.alive ? this.ws.getBufferedAmount() : 0;
  }

  protected transportAbort(): void {
    this.abandon();
  }

  override ping(): void {
    if (this.open) this.ws.cork(() => this.ws.ping());
  }

  // ---- pub/sub (lib/pubsub): uWS native topics, so a publication is encoded once for every subscriber ----

  topicSubscribe(topic: string): void {
    if (this.alive) this.ws.subscribe(topic);
  }

  topicUnsubscribe(topic: string): void {
    if (this.alive) this.ws.unsubscribe(topic);
  }
}

export class WebSocketTransport implements Transport {
  readonly name = 'ws';
  private readonly uws: Uws;
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;
  private boundPort = 0;
  private shared = false;
  /** uWS sockets not closed yet (open connections and ones waiting to flush before they end). */
  private alive = 0;

  constructor(private readonly host: TransportHost) {
    this.uws = loadUws();
    const tls = host.tls;
    this.app = tls
      ? this.uws.SSLApp({
          cert_file_name: tls.certFile,
          key_file_name: tls.keyFile,
          ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
          ...(tls.caFile !== null ? { ca_file_name: tls.caFile } : {}),
        })
      : this.uws.App();
    this.routes();
  }

  /**
   * Runs the authenticator for an HTTP request (an upgrade or /metrics). Copies
   * what it needs from `req` first: uWS's HttpRequest is dead once we return.
   * On rejection answers 401/403 itself; on acceptance calls `accept`, corked
   * when the authenticator was async.
   */
  private authorize(res: HttpResponse, req: HttpRequest, remote: string, accept: (identity: unknown) => void): void {
    const auth = this.host.authenticator;
    if (auth === null) return accept(undefined);
    const headers: Record<string, string> = {};
    req.forEach((k, v) => (headers[k] = v));
    const query = req.getQuery() ?? '';
    const areq: AuthRequest = { transport: 'ws', headers, url: req.getUrl(), query, remoteAddress: remote, token: bearerToken(headers.authorization, query) };
    let aborted = false;
    let sync = true;
    res.onAborted(() => (aborted = true));
    const finish = (d: AuthDecision): void => {
      if (aborted) return;
      const reply = (): void => {
        if (d.ok) return accept(d.identity);
        this.host.authFailed('ws', remote, d.reason);
        respond(res, d.status === 403 ? '403 Forbidden' : '401 Unauthorized', d.reason, BEARER);
      };
      if (sync) return reply(); // inside the uWS callback: its guard catches
      // A promise continuation: a throw here would be an unhandled rejection, which ends the process.
      try {
        res.cork(reply);
      } catch (err) {
        this.fault('authorize', err);
      }
    };
    runAuthenticator(auth, areq, finish);
    sync = false;
  }

  /** An exception escaped a handler: log it; it must never reach uWS, which would end the process. */
  private readonly fault: Fault = (where, err) => {
    this.host.log.error({ err, where }, 'handler threw; the process keeps serving');
  };

  /** A WebSocket callback threw: log it and close that connection (1011); the others carry on. */
  private wsFault(where: string, ws: WebSocket<WsData>, err: unknown): void {
    this.fault(where, err);
    try {
      const conn = ws.getUserData().conn;
      if (conn !== null && conn.open) conn.close(CloseCode.INTERNAL_ERROR, 'internal error');
      else if (conn === null || conn.alive) ws.end(CloseCode.INTERNAL_ERROR, 'internal error');
    } catch {
      /* the socket is already gone */
    }
  }

  private routes(): void {
    const host = this.host;
    const o = host.options;
    this.app.ws<WsData>('/*', {
      compression: this.uws.DISABLED,
      // uWS resets an oversized message without a close frame (native-notes/hardening-http.md): give it
      // headroom so ringloop sees messages up to twice the bound and closes them with 1009 itself.
      maxPayloadLength: nativePayloadLimit(o.maxPayload),
      // ringloop enforces its own (lower-than-native) bound so the 1008 close frame is never dropped (FACTS.md trap).
      maxBackpressure: 0,
      closeOnBackpressureLimit: 0,
      // Idle timeout and keep-alive pings are the reactor's: any duration, same rule for TCP.
      idleTimeout: 0,
      sendPingsAutomatically: false,
      upgrade: guardHttp('upgrade', this.fault, (res, req, context: us_socket_context_t) => {
        // Ambiguous framing would let bytes after this request be read as something else.
        const bad = framingProblem(req);
        if (bad !== null) return refuse(res, '400 Bad Request', bad);
        // HttpRequest is only valid synchronously: copy what we need now (FACTS.md).
        const key = req.getHeader('sec-websocket-key');
        const protocol = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        const remote = remoteOf(res);
        const refuseBusy = (): boolean => {
          const why = host.draining ? 'shutting down' : host.admit(remote);
          if (why !== null) respond(res, '503 Service Unavailable', why);
          return why !== null;
        };
        if (refuseBusy()) return;
        this.authorize(res, req, remote, (identity) => {
          // An async authenticator may finish after shutdown began or limits filled up.
          if (host.authenticator !== null && refuseBusy()) return;
          const conn = new WsConnection(host, remote);
          conn.identity = identity;
          res.upgrade<WsData>({ conn }, key, protocol, extensions, context);
        });
      }),
      open: (ws) => {
        try {
          const conn = ws.getUserData().conn!;
          this.alive++;
          conn.ws = ws;
          conn.lastSeen = host.clock; // an async authenticator may have taken a while since the upgrade
          host.connectionOpened(conn);
        } catch (err) {
          this.wsFault('open', ws, err);
        }
      },
      message: (ws, message, isBinary) => {
        try {
          const conn = ws.getUserData().conn;
          if (conn === null || !conn.open) return;
          if (!isBinary) {
            conn.close(CloseCode.UNSUPPORTED_DATA, 'text messages are not accepted: send binary MessagePack');
            return;
          }
          if (message.byteLength > o.maxPayload) {
            host.metrics.protocolErrors.labels({ code: String(CloseCode.MESSAGE_TOO_BIG) }).inc();
            conn.close(CloseCode.MESSAGE_TOO_BIG, `message of ${message.byteLength} bytes is over --max-payload (${o.maxPayload})`);
            return;
          }
          // A Buffer view, no copy: the codec copies what outlives this callback (FACTS.md).
          host.frame(conn, Buffer.from(message));
        } catch (err) {
          this.wsFault('message', ws, err);
        }
      },
      pong: (ws) => {
        try {
          const conn = ws.getUserData().conn;
          if (conn !== null) host.touched(conn);
        } catch (err) {
          this.wsFault('pong', ws, err);
        }
      },
      drain: (ws) => {
        try {
          const conn = ws.getUserData().conn;
          if (conn !== null && !conn.drained()) host.writable(conn);
        } catch (err) {
          this.wsFault('drain', ws, err);
        }
      },
      // A client's own pings are traffic too; uWS has already queued the pong, which counts against --max-backpressure.
      ping: (ws) => {
        try {
          const conn = ws.getUserData().conn;
          if (conn === null) return;
          host.touched(conn);
          checkControlBacklog(conn, ws, o.maxBackpressure);
        } catch (err) {
          this.wsFault('ping', ws, err);
        }
      },
      close: (ws, code, message) => {
        try {
          const data = ws.getUserData();
          const conn = data.conn;
          if (conn === null) return;
          this.alive--;
          data.conn = null;
          conn.alive = false;
          host.connectionClosed(conn, code, Buffer.from(message).toString());
          host.released(conn);
        } catch (err) {
          this.fault('close', err);
        }
      },
    });
    // A WebSocket may be opened on any path, /metrics and /healthz included: yield upgrades to the ws route.
    const isUpgrade = (req: HttpRequest): boolean => req.getHeader('upgrade') !== '';
    /** Refuses ambiguous framing; true when the request was answered. */
    const refused = (res: HttpResponse, req: HttpRequest): boolean => {
      const bad = framingProblem(req);
      if (bad !== null) refuse(res, '400 Bad Request', bad);
      return bad !== null;
    };
    this.app.get(
      '/healthz',
      guardHttp('/healthz', this.fault, (res, req) => {
        if (isUpgrade(req)) return void req.setYield(true);
        if (refused(res, req)) return;
        if (host.draining) respond(res, '503 Service Unavailable', 'draining');
        else respond(res, '200 OK', 'ok');
      }),
    );
    this.app.get(
      '/metrics',
      guardHttp('/metrics', this.fault, (res, req) => {
        if (isUpgrade(req)) return void req.setYield(true);
        if (refused(res, req)) return;
        // With auth on, /metrics needs the same credentials as a WebSocket (/healthz stays open for probes).
        this.authorize(res, req, remoteOf(res), () => {
          const text = host.renderMetrics();
          const send = (t: string): void => respond(res, '200 OK', t, PROMETHEUS);
          if (typeof text === 'string') return send(text);
          // Several reactors: the server's totals come from the supervisor, after this callback returns.
          let aborted = false;
          res.onAborted(() => (aborted = true));
          // A promise continuation: a throw here would be an unhandled rejection, which ends the process.
          const later = (fn: () => void): void => {
            if (aborted) return;
            try {
              res.cork(fn);
            } catch (err) {
              this.fault('/metrics', err);
            }
          };
          void text.then(
            (t) => later(() => send(t)),
            () => later(() => respond(res, '503 Service Unavailable', 'metrics unavailable')),
          );
        });
      }),
    );
    this.app.any(
      '/*',
      guardHttp('http', this.fault, (res, req) => {
        if (refused(res, req)) return;
        respond(res, '404 Not Found', 'not found');
      }),
    );
  }

  /**
   * `shared`: join the port's SO_REUSEPORT group (the reactor processes of one server, and the
   * next generation during a hot restart). Otherwise exclusive: a forgotten old instance must not
   * silently share the port (SO_REUSEPORT is uWS's default, FACTS.md). `port`: resumeAccepting
   * listens again on the port first bound.
   */
  listen(shared = false, port = this.host.options.port): Promise<number> {
    this.shared = shared;
    const { host } = this.host.options;
    return new Promise((resolve, reject) => {
      const listen = this.app.listen as unknown as (h: string, p: number, opts: number, cb: (t: us_listen_socket | false) => void) => void;
      const opts = shared ? 0 : (this.uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;
      listen.call(this.app, host, port, opts, (token) => {
        if (!token) {
          reject(new Error(`cannot listen on ${host}:${port} (address in use or not available)`));
          return;
        }
        this.listenSocket = token;
        this.boundPort = this.uws.us_socket_local_port(token);
        resolve(this.boundPort);
      });
    });
  }

  lingering(): number {
    return this.alive;
  }

  /** Sends a binary message to every WebSocket subscribed to `topic` (lib/pubsub). */
  publish(topic: string, bytes: Uint8Array): void {
    this.app.publish(topic, bytes, true, false);
  }

  stopAccepting(): void {
    if (this.listenSocket) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  /** Descriptors ran out (lib/reactor/descriptors.ts): closing the listen socket stops uSockets' EMFILE spin. */
  pauseAccepting(): void {
    this.stopAccepting();
  }

  resumeAccepting(): Promise<void> {
    if (this.listenSocket !== null || this.host.draining || this.boundPort === 0) return Promise.resolve();
    return this.listen(this.shared, this.boundPort).then(() => undefined);
  }

  closeAll(): void {
    this.stopAccepting();
    // Present in v20.30 but missing from its .d.ts: closes listeners and force-closes every socket.
    (this.app as unknown as { close?: () => void }).close?.();
  }
}
