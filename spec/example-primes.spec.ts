import { expect } from 'chai';
import { primesPlugin, countPrimes } from '../lib/plugins/examples/primes';
import { RpcClient, startReactor } from './helpers/client';

describe('example plugin: primes (an offloaded CPU-heavy method)', () => {
  it('counts primes on the worker pool while the reactor keeps answering', async function () {
    this.timeout(20000);
    const srv = await startReactor({ workers: 1 }, (r) => r.register(primesPlugin, { maxLimit: 100_000_000 }));
    const c = await RpcClient.connect(srv.url);
    expect((await c.call('primes.count', [100])).result).to.equal(25);
    const t0 = Date.now();
    const big = c.call('primes.count', [30_000_000]);
    // While the worker sieves, echo round trips stay fast: the reactor thread is free.
    let slowest = 0;
    let echoes = 0;
    let done = false;
    void big.then(() => (done = true));
    while (!done) {
      const s = Date.now();
      await c.call('echo', [echoes++]);
      slowest = Math.max(slowest, Date.now() - s);
    }
    const elapsed = Date.now() - t0;
    expect((await big).result).to.equal(countPrimes(30_000_000));
    expect(elapsed, 'the sieve takes a while').to.be.above(50);
    expect(echoes).to.be.above(10);
    expect(slowest, `slowest echo ${slowest} ms during a ${elapsed} ms sieve`).to.be.below(Math.max(40, elapsed / 4));
    expect(srv.reactor.renderMetrics()).to.match(/^ringloop_pool_tasks_total\{outcome="ok"\} [1-9]/m);
    c.close();
    await srv.close();
  });

  it('checks params on the reactor before queueing', async () => {
    const srv = await startReactor({ workers: 1 }, (r) => r.register(primesPlugin, {}));
    const c = await RpcClient.connect(srv.url);
    for (const bad of [[1], ['10'], [1.5], [], [60_000_000]]) {
      expect((await c.call('primes.count', bad)).error?.code, JSON.stringify(bad)).to.equal('INVALID_PARAMS');
    }
    expect(srv.reactor.renderMetrics()).to.not.match(/^ringloop_pool_tasks_total\{outcome="ok"\} [1-9]/m);
    c.close();
    await srv.close();
  });
});
