/**
 * The plugin contract (fastify-style): a module exporting
 * `definePlugin({ name, version, dependencies, options, setup(scope, options) })`.
 * `setup` gets a PluginScope: methods register as `name.method` unless marked
 * `topLevel`, and hooks/handlers are attributed to the plugin in errors and logs.
 */
import type { PluginScope } from './scope';

export type PluginOptionType = 'string' | 'number' | 'integer' | 'boolean' | 'string[]';

/** One option a plugin accepts; options are checked when the plugin loads. */
export interface PluginOptionSpec {
  type: PluginOptionType;
  default?: unknown;
  required?: boolean;
  min?: number;
  max?: number;
  enum?: readonly string[];
  description?: string;
}

export interface Plugin<O = unknown> {
  /** Also the namespace of its methods (`name.method`). */
  readonly name: string;
  readonly version?: string;
  /** Names of plugins that must be registered first; start-up fails if one is missing. */
  readonly dependencies?: readonly string[];
  /** Accepted options; unknown keys and bad values fail start-up naming the plugin and the option. */
  readonly options?: Readonly<Record<string, PluginOptionSpec>>;
  /** Absolute path of the module exporting this plugin, so worker threads can load it (offloaded methods). */
  readonly module?: string;
  setup(scope: PluginScope, options: O): void | Promise<void>;
}

/** Identity helper that gives plugin authors type checking. */
export function definePlugin<O = unknown>(plugin: Plugin<O>): Plugin<O> {
  return plugin;
}
