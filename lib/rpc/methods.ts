/**
 * The method table. A Map, so lookups only ever reach registered names:
 * `__proto__`, `constructor` and other inherited names are METHOD_NOT_FOUND.
 */
import { ConfigError } from '../errors';
import type { MethodFn, MethodOptions } from '../reactor/types';

export interface MethodEntry {
  readonly name: string;
  readonly fn: MethodFn;
  readonly timeoutMs: number | null;
  /** Who registered it, for clear duplicate errors. */
  readonly owner: string;
}

export class MethodRegistry {
  private readonly table = new Map<string, MethodEntry>();

  add(name: string, fn: MethodFn, options: MethodOptions = {}, owner = 'application'): void {
    if (typeof name !== 'string' || name.length === 0) throw new ConfigError(`${owner}: method name must be a non-empty string`);
    if (typeof fn !== 'function') throw new ConfigError(`${owner}: method ${JSON.stringify(name)} needs a function`);
    const prev = this.table.get(name);
    if (prev) throw new ConfigError(`method ${JSON.stringify(name)} registered twice: by ${prev.owner} and by ${owner}`);
    let timeoutMs: number | null = null;
    if (options.timeout !== undefined) {
      if (typeof options.timeout !== 'number' || !(options.timeout > 0)) {
        throw new ConfigError(`${owner}: method ${JSON.stringify(name)}: timeout must be a positive number of seconds`);
      }
      timeoutMs = Math.round(options.timeout * 1000);
    }
    this.table.set(name, { name, fn, timeoutMs, owner });
  }

  get(name: string): MethodEntry | undefined {
    return this.table.get(name);
  }

  names(): string[] {
    return [...this.table.keys()];
  }
}
