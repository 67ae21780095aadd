/** Checks a plugin's options against its declared schema, at load time. */
import { ConfigError } from '../errors';
import type { Plugin, PluginOptionSpec } from './plugin';

function check(plugin: string, key: string, spec: PluginOptionSpec, v: unknown): unknown {
  const bad = (what: string): never => {
    throw new ConfigError(`plugin ${plugin}: option "${key}" ${what}, got ${JSON.stringify(v)}`);
  };
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string') bad('must be a string');
      if (spec.enum && !spec.enum.includes(v as string)) bad(`must be one of ${spec.enum.join(', ')}`);
      break;
    case 'boolean':
      if (typeof v !== 'boolean') bad('must be true or false');
      break;
    case 'string[]':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) bad('must be an array of strings');
      break;
    case 'number':
    case 'integer':
      if (typeof v !== 'number' || !Number.isFinite(v)) bad('must be a number');
      if (spec.type === 'integer' && !Number.isInteger(v)) bad('must be an integer');
      if (spec.min !== undefined && (v as number) < spec.min) bad(`must be at least ${spec.min}`);
      if (spec.max !== undefined && (v as number) > spec.max) bad(`must be at most ${spec.max}`);
      break;
  }
  return v;
}

/** Returns the options with defaults applied; throws ConfigError naming the plugin and the option. */
export function validatePluginOptions(plugin: Plugin<unknown>, raw: unknown): unknown {
  const schema = plugin.options;
  if (schema === undefined) return raw;
  if (raw !== undefined && (raw === null || typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError(`plugin ${plugin.name}: options must be an object`);
  }
  const given = (raw ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(schema, key)) {
      throw new ConfigError(`plugin ${plugin.name}: unknown option "${key}" (accepted: ${Object.keys(schema).join(', ') || 'none'})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const v = given[key];
    if (v === undefined) {
      if (spec.required) throw new ConfigError(`plugin ${plugin.name}: option "${key}" is required`);
      if (spec.default !== undefined) out[key] = spec.default;
      continue;
    }
    out[key] = check(plugin.name, key, spec, v);
  }
  return out;
}
