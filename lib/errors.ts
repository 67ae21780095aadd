/**
 * Every error code and close code ringloop emits, in one place (CONTRACT.md).
 */

/** MessagePack-RPC error codes carried in `{code, message, data?}` error maps. */
export const ErrorCode = {
  INVALID_REQUEST: 'INVALID_REQUEST',
  METHOD_NOT_FOUND: 'METHOD_NOT_FOUND',
  INVALID_PARAMS: 'INVALID_PARAMS',
  HANDLER_ERROR: 'HANDLER_ERROR',
  TIMEOUT: 'TIMEOUT',
  OVERLOADED: 'OVERLOADED',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  WORKER_CRASHED: 'WORKER_CRASHED',
  FORBIDDEN: 'FORBIDDEN', // a plugin refused this connection a subscribe or publish
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes (RFC 6455) used by the contract. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001, // graceful shutdown
  PROTOCOL_ERROR: 1002, // valid MessagePack, not a well-formed RPC message
  UNSUPPORTED_DATA: 1003, // text frame
  INVALID_PAYLOAD: 1007, // not MessagePack, truncated, extension types, 0xc1, too deep
  POLICY_VIOLATION: 1008, // client stopped reading past --max-backpressure
  MESSAGE_TOO_BIG: 1009, // a WebSocket message over --max-payload (up to twice it; beyond, uWS resets: 1006)
  INTERNAL_ERROR: 1011, // a handler threw where no error answer is possible
  IDLE_TIMEOUT: 1000,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The error map sent on the wire. */
export interface RpcErrorBody {
  code: ErrorCode;
  message: string;
  data?: unknown;
}

/** Throw this from a method to answer with a specific code; anything else thrown is HANDLER_ERROR. */
export class RpcError extends Error {
  readonly code: ErrorCode;
  readonly data: unknown;
  constructor(code: ErrorCode, message: string, data?: unknown) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
  toBody(): RpcErrorBody {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

export function invalidParams(message: string): RpcError {
  return new RpcError(ErrorCode.INVALID_PARAMS, message);
}

/** A start-up problem (bad option, bad plugin): the CLI prints the message on one line and exits non-zero. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
