import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { encodeRequest } from '../lib/protocol/codec';
import { createReactor, type CreateReactorOptions } from '../lib/server/reactor';
import type { Plugin } from '../lib/plugins/plugin';
import { ROOT, RpcClient, delay, httpGet, startReactor, type TestServer } from './helpers/client';

const FIXTURE = path.join(ROOT, 'spec', 'fixtures', 'pool-tasks.js');

function startPool(opts: CreateReactorOptions = {}): Promise<TestServer> {
  return startReactor(opts, async (r) => void (await r.register(require(FIXTURE) as Plugin<unknown>)));
}

function count(text: string, re: RegExp): number {
  let n = 0;
  for (const m of text.matchAll(re)) n += Number(m[1]);
  return n;
}

describe('worker pool: crashed workers', () => {
  let srv: TestServer;
  afterEach(async () => {
    await srv?.close();
  });

  it('answers WORKER_CRASHED for every task the exiting worker held, replaces it, and keeps serving', async function () {
    this.timeout(10000);
    srv = await startPool({ workers: 1 });
    const c = await RpcClient.connect(srv.url);
    const before = (await c.call('pool.where', [])).result as number;
    const ids = [c.id(), c.id(), c.id(), c.id()];
    // crash first; the others were handed to the same worker or wait in the queue
    c.sendRaw(Buffer.concat([encodeRequest(ids[0], 'pool.crash', [3]), ...ids.slice(1).map((id, i) => encodeRequest(id, 'pool.touch', [`t${i}`]))]));
    const replies = await Promise.all(ids.map((id) => c.reply(id)));
    expect(replies[0].error).to.deep.equal({ code: 'WORKER_CRASHED', message: 'the worker running the task exited' });
    for (const [i, r] of replies.slice(1).entries()) {
      // held by the dead worker -> WORKER_CRASHED; still queued -> runs on the replacement
      if (r.error !== null) expect(r.error.code).to.equal('WORKER_CRASHED');
      else expect(r.result).to.equal(`t${i}`);
    }
    const after = (await c.call('pool.where', [])).result as number;
    expect(after, 'a replacement worker').to.be.a('number').and.not.equal(before);
    expect(srv.reactor.pool!.alive).to.equal(1);
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(count(m, /^ringloop_pool_worker_restarts_total\{worker="0",code="3"\} (\d+)$/gm)).to.equal(1);
    expect(count(m, /^ringloop_pool_tasks_total\{outcome="crashed"\} (\d+)$/gm)).to.equal(replies.filter((r) => r.error !== null).length);
    expect(count(m, /^ringloop_rpc_requests_total\{outcome="WORKER_CRASHED"\} (\d+)$/gm)).to.be.at.least(1);
    c.close();
  });

  it('keeps serving on the other worker while one is replaced; nothing hangs', async function () {
    this.timeout(10000);
    srv = await startPool({ workers: 2 });
    const c = await RpcClient.connect(srv.url);
    const crash = c.call('pool.crash', [1]);
    const others = Array.from({ length: 50 }, (_, i) => c.call('pool.touch', [`o${i}`]));
    expect((await crash).error?.code).to.equal('WORKER_CRASHED');
    const rs = await Promise.all(others);
    for (const [i, r] of rs.entries()) {
      if (r.error !== null) expect(r.error.code).to.equal('WORKER_CRASHED');
      else expect(r.result).to.equal(`o${i}`);
    }
    expect(rs.filter((r) => r.error === null).length, 'the surviving worker served').to.be.at.least(20);
    // the replacement starts in the background: a busy machine may take a while to load it
    for (let i = 0; i < 100 && srv.reactor.pool!.alive < 2; i++) await delay(50);
    expect(srv.reactor.pool!.alive).to.equal(2);
    c.close();
  });

  it('treats an uncaught exception in a worker (from a timer) as a crash, and survives a crash loop', async function () {
    this.timeout(10000);
    srv = await startPool({ workers: 1 });
    const c = await RpcClient.connect(srv.url);
    const first = (await c.call('pool.where', [])).result;
    expect((await c.call('pool.crashLater', [10])).result).to.equal('armed');
    await delay(150);
    const second = (await c.call('pool.where', [])).result;
    expect(second).to.not.equal(first);
    // the same task crashing its worker again and again: each gets WORKER_CRASHED, the pool recovers each time
    for (let i = 0; i < 3; i++) expect((await c.call('pool.crash', [7])).error?.code).to.equal('WORKER_CRASHED');
    expect((await c.call('pool.touch', ['alive'])).result).to.equal('alive');
    c.close();
  });

  it('fails start-up, naming the plugin, when a plugin cannot be loaded in the workers; no worker is left running', async () => {
    const reactor = createReactor({ port: 0, logLevel: 'silent', workers: 2 });
    await reactor.register(require(path.join(ROOT, 'spec', 'fixtures', 'pool-bad.js')) as Plugin<unknown>);
    const threads = (): number => fs.readdirSync('/proc/self/task').length;
    const before = threads();
    let err: Error | null = null;
    try {
      await reactor.listen();
    } catch (e) {
      err = e as Error;
    }
    expect(err?.name).to.equal('ConfigError');
    expect(err?.message).to.match(/worker pool failed to start: .*cannot load in a worker/);
    expect(reactor.pool).to.equal(null);
    expect(reactor.listenInfo).to.equal(null);
    await delay(50);
    expect(threads(), 'worker threads were terminated').to.be.at.most(before);
  });

  it('replaces a worker stuck in an endless loop after its task timed out; its other tasks get WORKER_CRASHED, nothing hangs', async function () {
    this.timeout(15000);
    srv = await startPool({ workers: 1, pool: { stuckMs: 300 } });
    const c = await RpcClient.connect(srv.url);
    const before = (await c.call('pool.where', [])).result;
    const t0 = Date.now();
    const stuck = c.call('pool.forever', []);
    await delay(20);
    const behind = c.call('pool.touch', ['behind']); // queued on the stuck worker or in the pool queue
    expect((await stuck).error?.code).to.equal('TIMEOUT'); // the method's 0.1 s timeout
    const b = await behind;
    // the watchdog fires ~300 ms after the timeout; the replacement then serves
    if (b.error !== null) expect(b.error.code).to.be.oneOf(['WORKER_CRASHED', 'TIMEOUT']);
    else expect(b.result).to.equal('behind');
    const after = (await c.call('pool.where', [])).result;
    expect(after, 'a replacement worker').to.be.a('number').and.not.equal(before);
    expect(Date.now() - t0, 'replaced within the stuck grace plus a watchdog tick').to.be.below(3000);
    expect((await c.call('pool.touch', ['later'])).result).to.equal('later');
    expect(srv.reactor.pool!.alive).to.equal(1);
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(count(m, /^ringloop_pool_worker_restarts_total\{worker="0",code="1"\} (\d+)$/gm)).to.equal(1);
    c.close();
  });

  it('leaves a worker alone while its long task is within its deadline (no false stuck)', async function () {
    this.timeout(15000);
    srv = await startPool({ workers: 1, pool: { stuckMs: 100 } });
    const c = await RpcClient.connect(srv.url);
    const before = (await c.call('pool.where', [])).result;
    expect((await c.call('pool.block', [700])).result).to.equal(700); // 0.7 s of CPU, default 30 s timeout
    expect((await c.call('pool.where', [])).result).to.equal(before);
    c.close();
  });
});
