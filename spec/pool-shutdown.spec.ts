import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import type { CreateReactorOptions } from '../lib/server/reactor';
import type { Plugin } from '../lib/plugins/plugin';
import { ROOT, RpcClient, delay, startCli, startReactor, type TestServer } from './helpers/client';

const FIXTURE = path.join(ROOT, 'spec', 'fixtures', 'pool-tasks.js');

function startPool(opts: CreateReactorOptions = {}): Promise<TestServer> {
  return startReactor(opts, async (r) => void (await r.register(require(FIXTURE) as Plugin<unknown>)));
}

const threads = (): number => fs.readdirSync('/proc/self/task').length;

describe('worker pool: graceful shutdown', () => {
  it('waits for a running task and delivers its result, refuses new work, closes 1001, then stops the workers', async function () {
    this.timeout(10000);
    const base = threads();
    const srv = await startPool({ workers: 2, drainTimeout: 5 });
    const c = await RpcClient.connect(srv.url);
    expect((await c.call('pool.touch', ['warm'])).result).to.equal('warm');
    expect(threads(), 'two worker threads running').to.be.at.least(base + 2);
    const running = c.call('pool.block', [300]);
    await delay(50);
    const t0 = Date.now();
    const closing = srv.close();
    await delay(20);
    expect((await c.call('pool.touch', ['late'])).error?.code).to.equal('SHUTTING_DOWN');
    expect((await running).result, 'the running task finished and was answered').to.equal(300);
    expect((await c.closed).code).to.equal(1001);
    await closing;
    expect(Date.now() - t0).to.be.below(2000);
    expect(srv.reactor.pool!.alive).to.equal(0);
    await delay(50);
    expect(threads(), 'worker threads gone').to.be.at.most(base);
  });

  it('at the drain deadline answers a still-running task TIMEOUT and terminates its worker; the process lives on', async function () {
    this.timeout(10000);
    const base = threads();
    const srv = await startPool({ workers: 1, drainTimeout: 0.4 });
    const c = await RpcClient.connect(srv.url);
    const running = c.call('pool.block', [3000]);
    await delay(50);
    const t0 = Date.now();
    await srv.close();
    const closeMs = Date.now() - t0;
    if (process.env.POOL_DEBUG) console.log('close took', closeMs);
    expect(closeMs, 'within --drain-timeout').to.be.below(600);
    expect((await running).error?.code).to.equal('TIMEOUT');
    expect(srv.reactor.pool!.alive).to.equal(0);
    await delay(50);
    expect(threads(), 'the busy worker was terminated').to.be.at.most(base);
    // still here: terminating a worker mid-task did not abort this process
    expect(process.exitCode ?? 0).to.equal(0);
  });

  it('SIGTERM while a pool task runs: TIMEOUT at the deadline, 1001, exit code 0 (never an abort)', async function () {
    this.timeout(10000);
    const srv = await startCli(['serve', '--port', '0', '--workers', '2', '--drain-timeout', '0.5', '--plugin', FIXTURE]);
    const c = await RpcClient.connect(srv.url);
    expect((await c.call('pool.touch', ['x'])).result).to.equal('x');
    const running = c.call('pool.block', [5000]);
    const quick = c.call('pool.block', [100]);
    await delay(50);
    const t0 = Date.now();
    srv.proc.kill('SIGTERM');
    expect((await quick).result, 'a task that ends within the deadline is answered').to.equal(100);
    expect((await running).error?.code).to.equal('TIMEOUT');
    expect((await c.closed).code).to.equal(1001);
    const { code, signal } = await srv.exited;
    expect(signal).to.equal(null);
    expect(code).to.equal(0);
    expect(Date.now() - t0).to.be.below(1200);
  });
});
