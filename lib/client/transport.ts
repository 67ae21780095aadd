/**
 * One connection to a server, whatever carries it (native WebSocket, the
 * `ws` package, TCP, TLS). The client core sees only this.
 */
export interface TransportEvents {
  open(): void;
  /** Complete MessagePack-RPC messages, decoded, in arrival order. */
  messages(messages: unknown[]): void;
  /** Exactly once, whether or not `open` came; `code` is the WebSocket close code (TCP: 1006 on error, 1000 otherwise). */
  close(code: number, reason: string): void;
}

export interface Transport {
  /** False when the socket no longer takes data (closing): the bytes did not leave. */
  send(bytes: Uint8Array): boolean;
  /** Bytes handed to the socket and not yet sent. */
  buffered(): number;
  close(code: number, reason: string): void;
  /** Drop the connection now, without a closing handshake (an unresponsive server). */
  terminate(): void;
}

export interface TransportOptions {
  token?: string;
  /** Largest message accepted from the server, and largest held unfinished on TCP. */
  maxMessageBytes: number;
  /** Node WebSocket only: ping this often (ms) and drop a server that has not answered since the last one; 0 = off. */
  pingInterval: number;
  /** An attempt not open within this many ms is abandoned (close 1006). */
  connectTimeout: number;
  /** Node only: extra options for tls.connect / wss (ca, rejectUnauthorized, servername...). */
  tls?: Record<string, unknown>;
}

export type TransportFactory = (url: URL, options: TransportOptions, events: TransportEvents) => Transport;
