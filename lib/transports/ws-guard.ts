/**
 * Output uWS queues on its own for a WebSocket (the pong it sends for every
 * client ping) bypasses ringloop's write path, so it is checked here against
 * the same --max-backpressure bound.
 */
import type { WebSocket } from 'uWebSockets.js';
import { CloseCode } from '../errors';
import type { BaseConnection } from '../reactor/connection';

/** Past this many times the bound, a closed connection still lingering to flush its 1008 is cut at once. */
const LINGER_FACTOR = 2;

/**
 * Called after uWS answered a client ping. Over --max-backpressure the
 * connection is closed with 1008 (sent once the client reads, like any slow
 * reader); a client that keeps flooding while its close waits to flush is cut
 * without a close frame at twice the bound, so memory stays bounded either way.
 */
export function checkControlBacklog<T>(conn: BaseConnection, ws: WebSocket<T>, maxBackpressure: number): void {
  const buffered = ws.getBufferedAmount();
  if (buffered <= maxBackpressure) return;
  if (conn.open) conn.close(CloseCode.POLICY_VIOLATION, 'client not reading: backpressure limit exceeded');
  else if (buffered > LINGER_FACTOR * maxBackpressure) ws.close();
}

/**
 * uWS's own message limit. uWS resets a connection over it without a close
 * frame (the client sees 1006), so it sits at twice --max-payload: messages
 * in between reach ringloop, which closes with 1009. uWS keeps at most this
 * much of a message being assembled per connection.
 */
export function nativePayloadLimit(maxPayload: number): number {
  return Math.min(2 * maxPayload, 0x7fffffff);
}
