/**
 * The built-in `demo` plugin (CONTRACT.md): echo, add, sleep, sha256, fail.
 * Every method validates its params: decoded input is untrusted.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, RpcError, invalidParams } from '../errors';
import { definePlugin } from './plugin';
import type { CallContext } from '../reactor/types';

function arity(params: unknown[], n: number, usage: string): void {
  if (params.length !== n) throw invalidParams(`expected ${usage}, got ${params.length} param(s)`);
}

export function echo(params: unknown[]): unknown {
  arity(params, 1, '[x]');
  return params[0];
}

export function add(params: unknown[]): number | bigint {
  arity(params, 2, '[a, b]');
  const [a, b] = params;
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (typeof a === 'bigint' && typeof b === 'bigint') return a + b;
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) return Number(a) + Number(b);
  throw invalidParams('add expects two numbers');
}

export function sleep(params: unknown[], ctx: CallContext): Promise<number> {
  arity(params, 1, '[ms]');
  const ms = params[0];
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 60000) throw invalidParams('sleep expects ms between 0 and 60000');
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', cancel);
      resolve(ms);
    }, ms);
    // Cancelled (disconnect, timeout, shutdown): free the timer instead of sleeping on.
    const signal = ctx.signal;
    const cancel = (): void => {
      clearTimeout(t);
      resolve(ms);
    };
    signal.addEventListener('abort', cancel, { once: true });
  });
}

export const SHA256_MAX_ROUNDS = 1_000_000;

/** Validates sha256 params; shared by the inline method and the worker-pool task. */
export function sha256Params(params: unknown[]): [Uint8Array, number] {
  arity(params, 2, '[data, rounds]');
  const [data, rounds] = params;
  let bytes: Uint8Array;
  if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
  else if (data instanceof Uint8Array) bytes = data;
  else throw invalidParams('sha256 data must be a string or bin');
  if (typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 1 || rounds > SHA256_MAX_ROUNDS) {
    throw invalidParams(`sha256 rounds must be an integer 1..${SHA256_MAX_ROUNDS}`);
  }
  return [bytes, rounds];
}

/** The reactor-side check before a sha256 task is queued on the pool (no copy of the data). */
export function sha256Check(params: unknown[]): void {
  arity(params, 2, '[data, rounds]');
  const [data, rounds] = params;
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw invalidParams('sha256 data must be a string or bin');
  if (typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 1 || rounds > SHA256_MAX_ROUNDS) {
    throw invalidParams(`sha256 rounds must be an integer 1..${SHA256_MAX_ROUNDS}`);
  }
}

export function sha256Rounds(data: Uint8Array, rounds: number): string {
  let digest = createHash('sha256').update(data).digest();
  for (let i = 1; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
  return digest.toString('hex');
}

export function sha256(params: unknown[]): string {
  const [bytes, rounds] = sha256Params(params);
  return sha256Rounds(bytes, rounds);
}

export function fail(params: unknown[]): never {
  arity(params, 1, '[message]');
  const message = params[0];
  if (typeof message !== 'string') throw invalidParams('fail expects a message string');
  throw new RpcError(ErrorCode.HANDLER_ERROR, message);
}

/** Busy-waits on the reactor thread: a CPU-heavy handler that is not offloaded (what --reactors spreads). */
export function spin(params: unknown[]): number {
  arity(params, 1, '[us]');
  const us = params[0];
  if (typeof us !== 'number' || !Number.isInteger(us) || us < 0 || us > 100_000) throw invalidParams('spin expects us, an integer 0..100000');
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
  return us;
}

export const demoPlugin = definePlugin({
  name: 'demo',
  version: '1.0.0',
  options: {},
  module: __filename,
  setup(scope) {
    // The contract names these methods without a namespace.
    const top = { topLevel: true };
    scope.method('echo', echo, top).method('add', add, top).method('sleep', sleep, top).method('fail', fail, top).method('spin', spin, top);
    // CPU-bound: runs on the worker pool (each worker loads this module); params are checked before queueing.
    scope.method('sha256', sha256, { topLevel: true, offload: true, validate: sha256Check });
  },
});
