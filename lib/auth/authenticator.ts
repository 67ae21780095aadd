/**
 * Authentication before a connection exists: WebSocket clients are checked in
 * the upgrade (401/403, no WebSocket created), TCP clients with a first `auth`
 * request. An authenticator returns the identity to attach to the connection.
 */
import type { TransportKind } from '../reactor/types';

/** Everything copied out of the upgrade request (uWS HttpRequest dies when the handler returns). */
export interface AuthRequest {
  readonly transport: TransportKind;
  /** Lower-case header names. Empty for TCP. */
  readonly headers: Readonly<Record<string, string>>;
  /** Path without the query string ('' for TCP). */
  readonly url: string;
  /** Raw query string without '?'. */
  readonly query: string;
  readonly remoteAddress: string;
  /** The credential the client presented: `Authorization: Bearer X`, `?token=X`, or TCP `auth [X]`. */
  readonly token: string | null;
}

/** Throw to reject with a specific HTTP status (401 or 403). */
export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

/**
 * Returns the identity for an accepted client (anything but undefined/null/false),
 * or undefined/null/false to reject with 401. May be async.
 */
export type Authenticator = (req: AuthRequest) => unknown;

export function bearerToken(authorization: string | undefined, query: string): string | null {
  if (authorization) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (m) return m[1];
  }
  if (query) {
    const t = new URLSearchParams(query).get('token');
    if (t) return t;
  }
  return null;
}

export interface AuthDecision {
  ok: boolean;
  status: 401 | 403;
  identity: unknown;
  reason: string;
}

function decide(v: unknown): AuthDecision {
  if (v === undefined || v === null || v === false) return { ok: false, status: 401, identity: undefined, reason: 'unauthorized' };
  return { ok: true, status: 401, identity: v, reason: '' };
}

function rejected(e: unknown): AuthDecision {
  if (e instanceof AuthError) return { ok: false, status: e.status, identity: undefined, reason: e.message };
  return { ok: false, status: 401, identity: undefined, reason: 'unauthorized' };
}

/**
 * Runs an authenticator; calls `done` synchronously when it is synchronous
 * (the upgrade can then complete inside the uWS callback) and later otherwise.
 * Returns true when `done` already ran.
 */
export function runAuthenticator(auth: Authenticator, req: AuthRequest, done: (d: AuthDecision) => void): boolean {
  let v: unknown;
  try {
    v = auth(req);
  } catch (e) {
    done(rejected(e));
    return true;
  }
  if (v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function') {
    (v as PromiseLike<unknown>).then(
      (x) => done(decide(x)),
      (e) => done(rejected(e)),
    );
    return false;
  }
  done(decide(v));
  return true;
}
