/**
 * The plugin shape (fastify-style): a module exporting `{ name, setup(reactor, options) }`.
 */
import type { Reactor } from '../reactor/reactor';

export interface Plugin<O = unknown> {
  readonly name: string;
  readonly version?: string;
  setup(reactor: Reactor, options: O): void | Promise<void>;
}

/** Identity helper that gives plugin authors type checking. */
export function definePlugin<O = unknown>(plugin: Plugin<O>): Plugin<O> {
  return plugin;
}
