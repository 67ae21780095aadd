/** Orders plugins so each comes after its dependencies; missing ones and cycles fail start-up. */
import { ConfigError } from '../errors';
import type { Plugin } from './plugin';

export function orderPlugins<T extends { plugin: Plugin<unknown> }>(list: readonly T[]): T[] {
  const byName = new Map<string, T>();
  for (const item of list) {
    const prev = byName.get(item.plugin.name);
    if (prev) throw new ConfigError(`plugin ${item.plugin.name} is loaded twice`);
    byName.set(item.plugin.name, item);
  }
  for (const item of list) {
    for (const dep of item.plugin.dependencies ?? []) {
      if (!byName.has(dep)) throw new ConfigError(`plugin ${item.plugin.name} depends on plugin ${dep}, which is not loaded`);
    }
  }
  const out: T[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (item: T, path: string[]): void => {
    const name = item.plugin.name;
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new ConfigError(`plugin dependency cycle: ${[...path, name].join(' -> ')}`);
    state.set(name, 'visiting');
    for (const dep of item.plugin.dependencies ?? []) visit(byName.get(dep)!, [...path, name]);
    state.set(name, 'done');
    out.push(item);
  };
  for (const item of list) visit(item, []);
  return out;
}
