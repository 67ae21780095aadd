/**
 * Resolves `--plugin` values: `demo` (built in) or a module path, relative to
 * the working directory, optionally with options from --config.
 */
import path from 'node:path';
import { ConfigError } from '../errors';
import type { Plugin } from './plugin';
import { demoPlugin } from './demo';

export interface PluginSpec {
  path: string;
  options?: unknown;
}

const BUILTIN: Record<string, Plugin<unknown>> = { demo: demoPlugin as Plugin<unknown> };

function isPlugin(v: unknown): v is Plugin<unknown> {
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as Plugin).name === 'string' &&
    (v as Plugin).name.length > 0 &&
    typeof (v as Plugin).setup === 'function'
  );
}

export function loadPlugin(spec: PluginSpec, cwd = process.cwd()): Plugin<unknown> {
  const builtin = Object.prototype.hasOwnProperty.call(BUILTIN, spec.path) ? BUILTIN[spec.path] : undefined;
  if (builtin) return builtin;
  const file = path.resolve(cwd, spec.path);
  let mod: unknown;
  try {
    mod = require(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND' && err.message.includes(file)) throw new ConfigError(`--plugin ${spec.path}: module not found (${file})`);
    throw new ConfigError(`--plugin ${spec.path}: failed to load: ${err.message.split('\n')[0]}`);
  }
  const candidate = isPlugin(mod) ? mod : (mod as { default?: unknown } | null)?.default;
  if (!isPlugin(candidate)) throw new ConfigError(`--plugin ${spec.path}: module must export { name, setup(scope, options) }`);
  // Workers load offloaded methods' plugins by module path.
  return candidate.module === undefined ? { ...candidate, module: require.resolve(file) } : candidate;
}
