/**
 * What a plugin's setup() works against inside a pool worker. Each worker
 * loads the plugin module by path and runs its setup with a real PluginScope
 * over this host, so method names are qualified exactly as on the reactor
 * (`plugin.method`, or the bare name with `topLevel`). Only methods
 * registered with `{ offload: true }` are kept (they run here); handlers,
 * boot hooks and authenticators are ignored; shutdown hooks run when the
 * worker stops. A plugin can tell it is in a worker with
 * `require('node:worker_threads').isMainThread === false`.
 */
import type { Logger } from 'pino';
import type { MethodFn, MethodOptions } from '../reactor/types';
import type { Plugin } from '../plugins/plugin';
import { PluginScope, type PluginHost } from '../plugins/scope';

export class WorkerHost implements PluginHost {
  readonly methods = new Map<string, MethodFn>();
  readonly shutdownHooks: Array<() => unknown> = [];

  constructor(
    readonly log: Logger,
    readonly options: unknown,
  ) {}

  addMethod(name: string, fn: MethodFn, options: MethodOptions): void {
    if (options.offload === true && typeof fn === 'function' && !this.methods.has(name)) this.methods.set(name, fn);
  }

  handler(): void {}

  onBoot(): void {}

  onShutdown(fn: () => unknown): void {
    this.shutdownHooks.push(fn);
  }

  authenticate(): void {}

  async setup(plugin: Plugin<unknown>, options: unknown): Promise<void> {
    await plugin.setup(new PluginScope(this, plugin), options);
  }
}

function isPlugin(v: unknown): v is Plugin<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as Plugin).name === 'string' && typeof (v as Plugin).setup === 'function';
}

/** Finds the plugin called `name` in a loaded module: the module itself, its default export, or any named export. */
export function findPlugin(mod: unknown, name: string): Plugin<unknown> | null {
  if (isPlugin(mod) && mod.name === name) return mod;
  if (mod === null || (typeof mod !== 'object' && typeof mod !== 'function')) return null;
  const m = mod as Record<string, unknown>;
  if (isPlugin(m.default) && m.default.name === name) return m.default;
  for (const k of Object.keys(m)) {
    const v = m[k];
    if (isPlugin(v) && v.name === name) return v;
  }
  return null;
}
