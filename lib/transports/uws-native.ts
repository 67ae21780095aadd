/**
 * Loads uWebSockets.js's native binary and refuses anything else. The npm
 * package silently falls back to a pure-JS imitation that never completes an
 * upgrade (FACTS.md), so ringloop requires the `.node` file itself.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type * as UWS from 'uWebSockets.js';

export type Uws = typeof UWS;

export interface Platform {
  platform: string;
  arch: string;
  /** Node's module ABI (process.versions.modules). */
  modules: string;
  node: string;
  env: Record<string, string | undefined>;
}

const ABI_TO_NODE: Record<string, string> = { '93': '16', '108': '18', '115': '20' };

export class NativeLayerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NativeLayerError';
  }
}

function currentPlatform(): Platform {
  return { platform: process.platform, arch: process.arch, modules: process.versions.modules, node: process.versions.node, env: process.env };
}

/** The binary the package ships for this platform, or why there is none. */
export function nativeBinaryPath(p: Platform = currentPlatform()): string {
  const flag = p.env.UWS_USE_FALLBACK;
  if (flag !== undefined && /^(1|true)$/i.test(flag)) {
    throw new NativeLayerError(
      'UWS_USE_FALLBACK is set, but ringloop never runs on the pure-JS uWebSockets.js fallback (it cannot serve WebSockets); unset it',
    );
  }
  const supported = Object.keys(ABI_TO_NODE);
  if (!supported.includes(p.modules)) {
    throw new NativeLayerError(
      `uWebSockets.js has no native binary for Node ${p.node} (ABI ${p.modules}); ringloop needs Node 20 (or 16/18) on linux/darwin x64 or arm64, or win32 x64`,
    );
  }
  const dir = path.join(path.dirname(require.resolve('uWebSockets.js/package.json')), 'binaries');
  return path.join(dir, `uws_${p.platform}_${p.arch}_${p.modules}.node`);
}

const loaded = new Map<string, Uws>();

export function loadUws(p: Platform = currentPlatform()): Uws {
  const file = nativeBinaryPath(p);
  const have = loaded.get(file);
  if (have) return have;
  if (!existsSync(file)) {
    throw new NativeLayerError(`uWebSockets.js ships no native binary for ${p.platform}-${p.arch} (Node ${p.node}); ringloop needs linux/darwin x64 or arm64, or win32 x64`);
  }
  let mod: Uws;
  try {
    mod = require(file) as Uws;
  } catch (e) {
    throw new NativeLayerError(
      `cannot load the uWebSockets.js native binary for ${p.platform}-${p.arch} Node ${p.node} (on Linux it needs glibc >= 2.27): ${(e as Error).message.split('\n')[0]}`,
    );
  }
  if (typeof mod.SSLApp !== 'function' || typeof mod.us_listen_socket_close !== 'function') {
    throw new NativeLayerError('the loaded uWebSockets.js is not the native build; refusing to run on its JS fallback');
  }
  loaded.set(file, mod);
  return mod;
}
