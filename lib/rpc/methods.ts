/**
 * The method table. A Map, so lookups only ever reach registered names:
 * `__proto__`, `constructor` and other inherited names are METHOD_NOT_FOUND.
 */
import { ConfigError } from '../errors';
import type { MethodFn, MethodOptions } from '../reactor/types';

/** Built-in methods (`ringloop.subscribe`...) live here; only the server itself (owner 'ringloop') registers them. */
export const RESERVED_PREFIX = 'ringloop.';
export const RESERVED_OWNER = 'ringloop';

export interface MethodEntry {
  readonly name: string;
  readonly fn: MethodFn;
  readonly timeoutMs: number | null;
  /** Who registered it, for clear duplicate errors. */
  readonly owner: string;
  /** Runs on the worker pool (MethodOptions.offload). */
  readonly offload: boolean;
  readonly validate: ((params: unknown[]) => void) | null;
  /** Its index in the running pool's method table, or -1 (set when the pool starts). */
  poolIndex: number;
}

export class MethodRegistry {
  private readonly table = new Map<string, MethodEntry>();

  add(name: string, fn: MethodFn, options: MethodOptions = {}, owner = 'application'): void {
    if (typeof name !== 'string' || name.length === 0) throw new ConfigError(`${owner}: method name must be a non-empty string`);
    if (typeof fn !== 'function') throw new ConfigError(`${owner}: method ${JSON.stringify(name)} needs a function`);
    if (name.startsWith(RESERVED_PREFIX) && owner !== RESERVED_OWNER) {
      throw new ConfigError(`${owner}: method ${JSON.stringify(name)}: the ${RESERVED_PREFIX} namespace is reserved for the server`);
    }
    const prev = this.table.get(name);
    if (prev) throw new ConfigError(`method ${JSON.stringify(name)} registered twice: by ${prev.owner} and by ${owner}`);
    let timeoutMs: number | null = null;
    if (options.timeout !== undefined) {
      if (typeof options.timeout !== 'number' || !(options.timeout > 0)) {
        throw new ConfigError(`${owner}: method ${JSON.stringify(name)}: timeout must be a positive number of seconds`);
      }
      timeoutMs = Math.round(options.timeout * 1000);
    }
    if (options.validate !== undefined && typeof options.validate !== 'function') {
      throw new ConfigError(`${owner}: method ${JSON.stringify(name)}: validate must be a function`);
    }
    const offload = options.offload === true;
    this.table.set(name, { name, fn, timeoutMs, owner, offload, validate: offload ? (options.validate ?? null) : null, poolIndex: -1 });
  }

  get(name: string): MethodEntry | undefined {
    return this.table.get(name);
  }

  names(): string[] {
    return [...this.table.keys()];
  }

  /** Methods registered with `offload`, in registration order. */
  offloaded(): MethodEntry[] {
    return [...this.table.values()].filter((e) => e.offload);
  }
}
