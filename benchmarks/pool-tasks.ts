/**
 * Tasks for benchmarks/pool.bench.ts, in one module both pools load:
 * Piscina calls the named exports with its task object; ringloop's workers
 * load the plugin below (by `module`) and run its offloaded methods.
 */
import { definePlugin } from '../lib/plugins/plugin';

/** The tiny task: the sum of 16 numbers. */
export function sum(task: { nums: number[] }): number {
  const a = task.nums;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** A CPU-bound task: `iters` rounds of an integer hash (calibrated by the bench to ~1 ms). */
export function cpu(task: { iters: number; seed: number }): number {
  let h = task.seed | 0;
  for (let i = 0; i < task.iters; i++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
    h ^= h >>> 15;
  }
  return h;
}

export const poolBenchPlugin = definePlugin({
  name: 'poolbench',
  module: __filename,
  setup(scope) {
    scope.method('sum', (params) => sum({ nums: params[0] as number[] }), { offload: true });
    scope.method('cpu', (params) => cpu({ iters: params[0] as number, seed: params[1] as number }), { offload: true });
  },
});
