/**
 * Example plugin with per-connection state: a session per connection holding
 * a counter and key/value pairs, created on open and dropped on close.
 *
 *   ringloop serve --plugin demo --plugin dist/lib/plugins/examples/session.js
 *   session.incr [by?] -> n      session.set [key, value]      session.get [key]
 *   session.info [] -> { id, connectedFor, keys, counter }
 */
import { definePlugin } from '../plugin';
import { invalidParams, RpcError, ErrorCode } from '../../errors';
import type { CallContext, Connection } from '../../reactor/types';

interface Session {
  id: number;
  openedAt: number;
  counter: number;
  values: Map<string, unknown>;
}

interface SessionOptions {
  maxKeys: number;
}

// Keyed by the connection object, so nothing leaks into Connection.state that other plugins use.
const sessions = new WeakMap<Connection, Session>();

function session(ctx: CallContext): Session {
  const s = sessions.get(ctx.conn);
  if (!s) throw new RpcError(ErrorCode.HANDLER_ERROR, 'no session for this connection');
  return s;
}

export const sessionPlugin = definePlugin<SessionOptions>({
  name: 'session',
  version: '1.0.0',
  module: __filename,
  options: { maxKeys: { type: 'integer', min: 1, max: 100000, default: 64, description: 'keys one session may hold' } },
  setup(scope, options) {
    let open = 0;
    scope.onConnection((conn) => {
      open++;
      sessions.set(conn, { id: conn.id, openedAt: Date.now(), counter: 0, values: new Map() });
    });
    scope.onClose((conn) => {
      open--;
      sessions.delete(conn);
    });
    scope.onShutdown(() => scope.log.info({ open }, 'sessions ending'));
    scope.method('incr', ([by = 1], ctx) => {
      if (typeof by !== 'number' || !Number.isFinite(by)) throw invalidParams('incr expects [by?] a number');
      return (session(ctx).counter += by);
    });
    scope.method('set', ([key, value], ctx) => {
      if (typeof key !== 'string') throw invalidParams('set expects [key string, value]');
      const s = session(ctx);
      if (!s.values.has(key) && s.values.size >= options.maxKeys) throw invalidParams(`a session holds at most ${options.maxKeys} keys`);
      s.values.set(key, value);
      return true;
    });
    scope.method('get', ([key], ctx) => {
      if (typeof key !== 'string') throw invalidParams('get expects [key string]');
      return session(ctx).values.get(key) ?? null;
    });
    scope.method('info', (_p, ctx) => {
      const s = session(ctx);
      return { id: s.id, connectedFor: Date.now() - s.openedAt, keys: [...s.values.keys()], counter: s.counter };
    });
  },
});

export default sessionPlugin;
