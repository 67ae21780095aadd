/**
 * `ringloop serve` arguments: flags and --config JSON, validated against the
 * same option table the embedding API uses. Flags win over the config file.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors';
import { OPTION_SPECS, parseOptionValue, type ReactorOptions } from '../reactor/options';
import type { PluginSpec } from '../plugins/loader';

export interface ServeArgs {
  options: Partial<ReactorOptions>;
  plugins: PluginSpec[];
  logLevel: string;
  help: boolean;
  version: boolean;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function pluginSpecs(raw: unknown, where: string): PluginSpec[] {
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((p) => {
    if (typeof p === 'string' && p.length > 0) return { path: p };
    if (p !== null && typeof p === 'object' && typeof (p as PluginSpec).path === 'string') {
      const { path, options, ...extra } = p as PluginSpec & Record<string, unknown>;
      const unknown = Object.keys(extra);
      if (unknown.length) throw new ConfigError(`${where}: unknown plugin key ${JSON.stringify(unknown[0])} (allowed: path, options)`);
      return { path, options };
    }
    throw new ConfigError(`${where}: each plugin must be a module path or {"path": ..., "options": {...}}`);
  });
}

function readConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--config ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--config ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`--config ${file}: must hold a JSON object`);
  return v as Record<string, unknown>;
}

export function parseServeArgs(argv: string[]): ServeArgs {
  const parseOpts: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    plugin: { type: 'string', multiple: true },
    config: { type: 'string' },
    'log-level': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const s of OPTION_SPECS) parseOpts[s.flag] = s.multiple ? { type: 'string', multiple: true } : { type: 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: parseOpts, strict: true, allowPositionals: false });
  } catch (e) {
    throw new ConfigError((e as Error).message.split('\n')[0]);
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const out: ServeArgs = { options: {}, plugins: [], logLevel: 'info', help: !!values.help, version: !!values.version };
  const opts = out.options as Record<string, unknown>;

  if (typeof values.config === 'string') {
    const where = `--config ${values.config}`;
    const cfg = readConfig(values.config);
    for (const [key, v] of Object.entries(cfg)) {
      const spec = OPTION_SPECS.find((s) => s.flag === key);
      if (spec) {
        try {
          opts[spec.key] = parseOptionValue(spec, v);
        } catch (e) {
          throw new ConfigError(`${where}: ${(e as Error).message}`);
        }
      } else if (key === 'plugin' || key === 'plugins') {
        out.plugins = pluginSpecs(v, `${where}: "${key}"`);
      } else if (key === 'log-level') {
        if (typeof v !== 'string' || !LOG_LEVELS.includes(v)) throw new ConfigError(`${where}: log-level must be one of ${LOG_LEVELS.join(', ')}`);
        out.logLevel = v;
      } else {
        throw new ConfigError(`${where}: unknown key ${JSON.stringify(key)}`);
      }
    }
  }
  for (const spec of OPTION_SPECS) {
    const v = values[spec.flag];
    if (typeof v === 'string' || Array.isArray(v)) opts[spec.key] = parseOptionValue(spec, v);
  }
  if (Array.isArray(values.plugin)) out.plugins = pluginSpecs(values.plugin, '--plugin');
  if (typeof values['log-level'] === 'string') {
    if (!LOG_LEVELS.includes(values['log-level'])) throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
    out.logLevel = values['log-level'];
  }
  if (out.plugins.length === 0) out.plugins = [{ path: 'demo' }];
  return out;
}

export function serveUsage(): string {
  const lines = ['Usage: ringloop serve [options]', '', 'Options:'];
  for (const s of OPTION_SPECS) lines.push(`  --${s.flag.padEnd(20)} ${s.help}`);
  lines.push(
    `  --${'plugin M'.padEnd(20)} handler plugin module path, may repeat (default: the built-in demo)`,
    `  --${'config F'.padEnd(20)} JSON object keyed by the long option names; flags win`,
    `  --${'log-level L'.padEnd(20)} ${LOG_LEVELS.join('|')} (default info)`,
    `  --${'help'.padEnd(20)} show this help`,
    `  --${'version'.padEnd(20)} print the version`,
  );
  return lines.join('\n');
}
