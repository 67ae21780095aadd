/**
 * Example plugin authorising pub/sub per connection and topic. Each client
 * presents a token (WebSocket: `Authorization: Bearer T` or `?token=T`; TCP: a
 * first `auth [T]` request); the plugin's option `users` maps tokens to user
 * ids. A user may then:
 *   - subscribe to its own topics, `user:ID` and `user:ID.*`, and to `public.*`;
 *   - publish to `public.*` and to anyone's `user:X.inbox` (a direct message);
 * everything else is FORBIDDEN. Server code publishing with `pubsub.publish`
 * is never asked.
 *
 *   ringloop serve --plugin dist/lib/plugins/examples/topic-acl.js \
 *     --config acl.json      # {"plugin": [{"path": "...topic-acl.js", "options": {"users": ["s3cret=42"]}}]}
 *   acl.whoami [] -> "42"
 *   acl.join [room] -> subscribes this connection to public.ROOM and announces it there
 */
import { definePlugin } from '../plugin';
import { invalidParams } from '../../errors';
import type { TopicRequest } from '../../pubsub/pubsub';
import { isTopic } from '../../pubsub/topic';

interface AclOptions {
  /** `TOKEN=USERID` pairs. */
  users: string[];
}

interface AclIdentity {
  user: string;
}

function userOf(identity: unknown): string | null {
  return identity !== null && typeof identity === 'object' && typeof (identity as AclIdentity).user === 'string' ? (identity as AclIdentity).user : null;
}

/** The rule itself, apart from the plugin machinery (exported for reuse and tests). */
export function topicAllowed(user: string, action: TopicRequest['action'], topic: string): boolean {
  if (topic.startsWith('public.')) return true;
  const own = `user:${user}`;
  if (action === 'subscribe') return topic === own || topic.startsWith(`${own}.`);
  return /^user:[A-Za-z0-9_-]+\.inbox$/.test(topic);
}

export const topicAclPlugin = definePlugin<AclOptions>({
  name: 'acl',
  version: '1.0.0',
  options: { users: { type: 'string[]', required: true, description: 'TOKEN=USERID pairs' } },
  setup(scope, options) {
    const users = new Map<string, string>();
    for (const pair of options.users) {
      const eq = pair.indexOf('=');
      const user = pair.slice(eq + 1);
      if (eq <= 0 || !/^[A-Za-z0-9_-]+$/.test(user)) throw new Error(`users: ${JSON.stringify(pair)} is not TOKEN=USERID (USERID of [A-Za-z0-9_-])`);
      users.set(pair.slice(0, eq), user);
    }
    // The identity an authenticator returns becomes conn.identity.
    scope.authenticate((req) => {
      const user = req.token === null ? undefined : users.get(req.token);
      return user === undefined ? null : { user };
    });
    scope.pubsub.authorize(({ conn, action, topic }) => {
      const user = userOf(conn.identity);
      return user !== null && topicAllowed(user, action, topic);
    });
    scope.method('whoami', (_params, ctx) => userOf(ctx.conn.identity));
    // Subscribing a connection from a handler, and publishing from server code.
    scope.method('join', ([room], ctx) => {
      const topic = `public.${String(room)}`;
      if (typeof room !== 'string' || !isTopic(topic)) throw invalidParams('acl.join expects [room], a topic token');
      scope.pubsub.subscribe(ctx.conn, topic);
      scope.pubsub.publish(topic, { joined: userOf(ctx.conn.identity) });
      return topic;
    });
  },
});

export default topicAclPlugin;
