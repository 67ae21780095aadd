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
