/**
 * Error codes the client produces itself, in one place. Server codes
 * (CONTRACT.md "Wire protocol": INVALID_PARAMS, TIMEOUT, SHUTTING_DOWN, ...)
 * reach the caller unchanged; these never come from a server.
 */
export const ClientErrorCode = {
  /** The call was sent, then its connection was lost before the answer: it may or may not have run. */
  DISCONNECTED: 'DISCONNECTED',
  /** No answer within the call's timeout (the server may still run it). */
  CLIENT_TIMEOUT: 'CLIENT_TIMEOUT',
  /** The call's AbortSignal fired before the answer (the server may still run it). */
  ABORTED: 'ABORTED',
  /** `maxQueued` calls and notifications already wait to be sent (disconnected, `maxInFlight` reached, or the socket over `maxBufferedBytes`). */
  QUEUE_FULL: 'QUEUE_FULL',
  /** `close()` was called, or the client was closed before the call could be answered. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** The reconnect policy gave up (`maxAttempts`), or reconnecting is off and the connection is gone. */
  RECONNECT_FAILED: 'RECONNECT_FAILED',
  /** The encoded call is larger than `maxMessageBytes` (the server's --max-payload): never sent. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The params cannot be sent as plain MessagePack (a function, a Date, a cycle, a bad method name). */
  ENCODE_ERROR: 'ENCODE_ERROR',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Every rejection of `call()`: a server error map (`code`, `message`, `data`) or one of ClientErrorCode. */
export class RingloopError extends Error {
  readonly code: string;
  readonly data: unknown;
  constructor(code: string, message: string, data?: unknown) {
    super(message);
    this.name = 'RingloopError';
    this.code = code;
    this.data = data;
  }
}

export function clientError(code: ClientErrorCode, message: string, data?: unknown): RingloopError {
  return new RingloopError(code, message, data);
}
