/** Node transports: WebSocket on the `ws` package (with pings), raw TCP and TLS on net/tls. */
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import { decodeAll, StreamDecoder } from './codec';
import type { Transport, TransportEvents, TransportFactory, TransportOptions } from './transport';

function wsTransport(url: URL, o: TransportOptions, ev: TransportEvents): Transport {
  const headers: Record<string, string> = {};
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  const ws = new WebSocket(url, { headers, perMessageDeflate: false, maxPayload: o.maxMessageBytes, handshakeTimeout: o.connectTimeout, ...(o.tls ?? {}) });
  let closed = false;
  let alive = true;
  let pinger: ReturnType<typeof setInterval> | undefined;
  let failure = '';
  const markAlive = (): void => {
    alive = true;
  };
  ws.on('open', () => {
    if (o.pingInterval > 0) {
      pinger = setInterval(() => {
        // Nothing since the last ping, not even its pong: the server (or the path to it) is gone.
        if (!alive) return ws.terminate();
        alive = false;
        ws.ping();
      }, o.pingInterval);
      pinger.unref?.();
    }
    ev.open();
  });
  ws.on('pong', markAlive);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    alive = true;
    if (!isBinary) return ws.close(1003, 'text frame');
    let messages: unknown[];
    try {
      messages = decodeAll(data);
    } catch (e) {
      return ws.close(1007, 'invalid MessagePack from server');
    }
    ev.messages(messages);
  });
  ws.on('unexpected-response', (_req, res) => {
    failure = `HTTP ${res.statusCode ?? '?'} from ${url.host}`;
    res.resume();
    ws.terminate();
  });
  ws.on('error', (e: Error) => {
    if (!failure) failure = e.message;
  });
  ws.on('close', (code: number, reason: Buffer) => {
    if (closed) return;
    closed = true;
    if (pinger) clearInterval(pinger);
    ev.close(code, reason.length > 0 ? reason.toString() : failure);
  });
  return {
    send: (bytes) => {
      if (ws.readyState !== ws.OPEN) return false;
      ws.send(bytes, { binary: true });
      return true;
    },
    buffered: () => ws.bufferedAmount,
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
  };
}

function tcpTransport(url: URL, o: TransportOptions, ev: TransportEvents): Transport {
  const port = Number(url.port);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const socket: net.Socket =
    url.protocol === 'tls:'
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...(o.tls ?? {}) })
      : net.connect({ host, port });
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 15000);
  const connectTimer = setTimeout(() => {
    failure = `not connected within ${o.connectTimeout} ms`;
    closeCode = 1006;
    socket.destroy();
  }, o.connectTimeout);
  const decoder = new StreamDecoder(o.maxMessageBytes);
  let failure = '';
  let closeCode = 1000;
  socket.once(url.protocol === 'tls:' ? 'secureConnect' : 'connect', () => {
    clearTimeout(connectTimer);
    ev.open();
  });
  socket.on('data', (chunk: Buffer) => {
    let messages: unknown[];
    try {
      messages = decoder.push(chunk);
    } catch (e) {
      failure = (e as Error).message;
      closeCode = 1007;
      return void socket.destroy();
    }
    if (messages.length > 0) ev.messages(messages);
  });
  socket.on('error', (e) => {
    failure = e.message;
    closeCode = 1006;
  });
  socket.on('close', () => {
    clearTimeout(connectTimer);
    ev.close(closeCode, failure);
  });
  return {
    send: (bytes) => {
      if (!socket.writable) return false;
      socket.write(bytes);
      return true;
    },
    buffered: () => socket.writableLength,
    close: (code) => {
      closeCode = code;
      socket.end();
    },
    terminate: () => {
      closeCode = 1006;
      failure = 'terminated: server unresponsive';
      socket.destroy();
    },
  };
}

export const nodeTransport: TransportFactory = (url, options, events) =>
  url.protocol === 'tcp:' || url.protocol === 'tls:' ? tcpTransport(url, options, events) : wsTransport(url, options, events);
