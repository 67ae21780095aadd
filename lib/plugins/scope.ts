/**
 * What a plugin's setup receives: the reactor's registration API, scoped to
 * the plugin. Methods go under the plugin's namespace (`name.method`) unless
 * registered `topLevel`; every registration names the plugin in errors.
 */
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator';
import type { Connection, EventHandler, MethodFn, MethodOptions } from '../reactor/types';
import type { Plugin } from './plugin';
import type { PubSubApi } from '../pubsub/pubsub';

export interface ScopedMethodOptions extends MethodOptions {
  /** Register as `method` instead of `plugin.method`. */
  topLevel?: boolean;
}

/** The reactor operations a scope forwards to (the Reactor implements it). */
export interface PluginHost {
  readonly log: Logger;
  addMethod(name: string, fn: MethodFn, options: MethodOptions, owner: string): void;
  handler(h: EventHandler): unknown;
  onBoot(fn: () => unknown, owner: string): void;
  onShutdown(fn: () => unknown, owner?: string): unknown;
  authenticate(fn: Authenticator): unknown;
  /** Absent in a pool worker. */
  readonly pubsub?: PubSubApi;
}

/** Inside a pool worker: a plugin's setup may still call authorize (ignored there); topics live on the reactor. */
const IN_WORKER: PubSubApi = {
  authorize: () => undefined,
  publish: () => {
    throw new Error('pub/sub is not available inside a pool worker: publish from a method that is not offloaded');
  },
  subscribe: () => {
    throw new Error('pub/sub is not available inside a pool worker');
  },
  unsubscribe: () => false,
  topicsOf: () => [],
  subscribers: () => 0,
};

export class PluginScope {
  readonly log: Logger;
  readonly owner: string;

  constructor(
    private readonly host: PluginHost,
    readonly plugin: Plugin<unknown>,
  ) {
    this.owner = `plugin ${plugin.name}`;
    this.log = host.log.child({ plugin: plugin.name });
  }

  /** The name a method is registered under. */
  qualify(name: string, options?: ScopedMethodOptions): string {
    return options?.topLevel ? name : `${this.plugin.name}.${name}`;
  }

  method(name: string, fn: MethodFn, options: ScopedMethodOptions = {}): this {
    const { topLevel: _topLevel, ...rest } = options;
    this.host.addMethod(this.qualify(name, options), fn, rest, this.owner);
    return this;
  }

  handler(h: EventHandler): this {
    this.host.handler(h);
    return this;
  }

  /** Runs before the reactor binds its ports; a throw stops start-up with nothing listening. */
  onBoot(fn: () => unknown): this {
    this.host.onBoot(fn, this.owner);
    return this;
  }

  /** Runs during graceful shutdown, after in-flight requests finish. */
  onShutdown(fn: () => unknown): this {
    this.host.onShutdown(fn, this.owner);
    return this;
  }

  onConnection(fn: (conn: Connection) => void): this {
    this.host.handler({ onOpen: fn });
    return this;
  }

  onClose(fn: (conn: Connection, code: number, reason: string) => void): this {
    this.host.handler({ onClose: fn });
    return this;
  }

  authenticate(fn: Authenticator): this {
    this.host.authenticate(fn);
    return this;
  }

  /** The server's topics: `publish(topic, data)`, `subscribe(conn, topic)`, `authorize(fn)` (lib/pubsub). */
  get pubsub(): PubSubApi {
    return this.host.pubsub ?? IN_WORKER;
  }
}
