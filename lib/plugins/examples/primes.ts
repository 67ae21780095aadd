/**
 * Example plugin with an offloaded CPU-heavy method: counting primes with a
 * sieve takes ~10 ms per million on these machines, so it runs on the worker
 * pool and the reactor keeps answering everyone else meanwhile.
 *
 *   ringloop serve --plugin demo --plugin dist/lib/plugins/examples/primes.js
 *   primes.count [limit] -> how many primes are < limit (limit 2..maxLimit)
 */
import { definePlugin } from '../plugin';
import { invalidParams } from '../../errors';

interface PrimesOptions {
  maxLimit: number;
}

export function countPrimes(limit: number): number {
  const composite = new Uint8Array(limit);
  let count = 0;
  for (let i = 2; i < limit; i++) {
    if (composite[i]) continue;
    count++;
    for (let j = i * i; j < limit; j += i) composite[j] = 1;
  }
  return count;
}

export const primesPlugin = definePlugin<PrimesOptions>({
  name: 'primes',
  version: '1.0.0',
  module: __filename,
  options: { maxLimit: { type: 'integer', min: 2, max: 500_000_000, default: 50_000_000, description: 'largest limit accepted' } },
  setup(scope, options) {
    const check = (params: unknown[]): number => {
      const [limit] = params;
      if (params.length !== 1 || typeof limit !== 'number' || !Number.isInteger(limit) || limit < 2 || limit > options.maxLimit) {
        throw invalidParams(`primes.count expects [limit], an integer 2..${options.maxLimit}`);
      }
      return limit;
    };
    scope.method('count', (params) => countPrimes(check(params)), {
      offload: true,
      // Runs on the reactor before queueing: bad params never cost a worker round trip.
      validate: (params) => void check(params),
    });
  },
});

export default primesPlugin;
