import { expect } from 'chai';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { encodeNotification, encodeRequest } from '../lib/protocol/codec';
import type { CreateReactorOptions } from '../lib/server/reactor';
import type { Plugin } from '../lib/plugins/plugin';
import { ROOT, RpcClient, delay, httpGet, startReactor, type TestServer } from './helpers/client';

const FIXTURE = path.join(ROOT, 'spec', 'fixtures', 'pool-tasks.js');

function startPool(opts: CreateReactorOptions = {}): Promise<TestServer> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return startReactor(opts, async (r) => void (await r.register(require(FIXTURE) as Plugin<unknown>)));
}

function sha256Rounds(data: Buffer, rounds: number): string {
  let d = createHash('sha256').update(data).digest();
  for (let i = 1; i < rounds; i++) d = createHash('sha256').update(d).digest();
  return d.toString('hex');
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

describe('worker pool: offloaded methods', () => {
  let srv: TestServer;
  afterEach(async () => {
    await srv?.close();
  });

  it('runs demo sha256 on the pool; the reactor answers echo while a long sha256 runs', async function () {
    this.timeout(10000);
    srv = await startPool({ workers: 1 });
    const c = await RpcClient.connect(srv.url);
    expect((await c.call('sha256', ['abc', 1])).result).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect((await c.call('sha256', [Buffer.from([0, 1, 2]), 3])).result).to.equal(sha256Rounds(Buffer.from([0, 1, 2]), 3));
    // Calibrate a sha256 that keeps the worker busy for a good while.
    const t0 = Date.now();
    await c.call('sha256', ['x', 20000]);
    const per = Math.max(1, Date.now() - t0) / 20000;
    const rounds = Math.min(1_000_000, Math.round(400 / per));
    const long = c.call('sha256', ['long', rounds]);
    let longDone = 0;
    void long.then(() => (longDone = Date.now()));
    await delay(20);
    const e0 = Date.now();
    const echoes = [];
    for (let i = 0; i < 5; i++) echoes.push((await c.call('echo', [i])).result);
    const echoMs = Date.now() - e0;
    expect(echoes).to.deep.equal([0, 1, 2, 3, 4]);
    expect(longDone, 'echo answered while sha256 still ran').to.equal(0);
    expect(echoMs).to.be.below(150);
    expect((await long).result).to.equal(sha256Rounds(Buffer.from('long'), rounds));
    c.close();
  });

  it('runs offloaded methods on worker threads, spread over the least-loaded worker', async function () {
    this.timeout(10000);
    srv = await startPool({ workers: 2 });
    const c = await RpcClient.connect(srv.url);
    const where = (await c.call('pool.where', [])).result as number;
    expect(where, 'a worker thread, not the reactor (threadId 0)').to.be.a('number').and.above(0);
    expect(srv.reactor.pool!.threadIds()).to.include(where);
    // two CPU-bound tasks at once land on different workers and run in parallel
    const ids = [c.id(), c.id()];
    c.sendRaw(Buffer.concat(ids.map((id) => encodeRequest(id, 'pool.busy', [200]))));
    const t0 = Date.now();
    const rs = await Promise.all(ids.map((id) => c.reply(id)));
    const elapsed = Date.now() - t0;
    const tids = rs.map((r) => r.result as number);
    expect(new Set(tids).size, 'one task per worker').to.equal(2);
    for (const t of tids) expect(srv.reactor.pool!.threadIds()).to.include(t);
    expect(elapsed, 'in parallel, not one after the other').to.be.below(390);
    c.close();
  });

  it('refuses bad sha256 params on the reactor with INVALID_PARAMS, before any pool round trip', async () => {
    srv = await startPool({ workers: 1 });
    const c = await RpcClient.connect(srv.url);
    const before = metric((await httpGet(srv.port, '/metrics')).body, 'ringloop_pool_tasks_total');
    for (const params of [[1, 2], ['x', 0], ['x', 1.5], ['x', 1_000_001], ['x'], ['x', 1, 2]]) {
      const r = await c.call('sha256', params);
      expect(r.error?.code, JSON.stringify(params)).to.equal('INVALID_PARAMS');
    }
    const after = metric((await httpGet(srv.port, '/metrics')).body, 'ringloop_pool_tasks_total');
    expect(after, 'no task was queued').to.equal(before);
    c.close();
  });

  it('a thrown Error is HANDLER_ERROR and an RpcError keeps its code and data; the worker is not replaced', async () => {
    srv = await startPool({ workers: 1 });
    const c = await RpcClient.connect(srv.url);
    const w0 = (await c.call('pool.where', [])).result;
    const e1 = await c.call('pool.throw', ['boom']);
    expect(e1.error).to.deep.equal({ code: 'HANDLER_ERROR', message: 'boom' });
    const e2 = await c.call('pool.invalid', ['nope']);
    expect(e2.error).to.deep.equal({ code: 'INVALID_PARAMS', message: 'nope', data: { detail: 1 } });
    expect((await c.call('pool.where', [])).result, 'same worker').to.equal(w0);
    c.close();
  });

  it('runs async methods in a worker with its event loop free (timers overlap), and notifications on the pool', async () => {
    srv = await startPool({ workers: 1 });
    const c = await RpcClient.connect(srv.url);
    // the pool learns that pool.later costs little CPU (async), then lets many run at once on one worker
    await Promise.all(Array.from({ length: 30 }, () => c.call('pool.later', [0])));
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 8 }, () => c.call('pool.later', [100])));
    expect(rs.map((r) => r.result)).to.deep.equal(Array(8).fill(100));
    expect(Date.now() - t0, 'eight 100 ms timers in one worker overlap').to.be.below(250);
    // a plugin's own timer in the worker keeps running while the worker is idle (it then sleeps without blocking)
    expect((await c.call('pool.ticker', [true])).result).to.equal(0);
    await delay(150);
    const ticks = (await c.call('pool.ticker', [false])).result as number;
    expect(ticks, 'timer ticks while idle').to.be.at.least(10);
    await delay(30);
    expect((await c.call('pool.ticker', [false])).result, 'stopped').to.equal(ticks);
    c.sendRaw(encodeNotification('pool.touch', ['note-1']));
    await delay(50);
    expect((await c.call('pool.ran', [])).result).to.include('note-1');
    expect(c.replies.every((r) => r.msgid > 0)).to.equal(true);
    c.close();
  });

  it('carries params and results larger than a ring frame (oversize, transferred) interleaved with small ones, in order', async function () {
    this.timeout(10000);
    // 4 KiB rings: bodies over 512 bytes go through the port, and frames wrap constantly
    srv = await startPool({ workers: 1, pool: { ringBytes: 4096 } });
    const c = await RpcClient.connect(srv.url);
    const calls: Array<Promise<unknown>> = [];
    const want: unknown[] = [];
    for (let i = 0; i < 60; i++) {
      const n = [10, 600, 3000, 200_000, 1900][i % 5] + i;
      const data = Buffer.alloc(n, i);
      calls.push(c.call('pool.len', [data]).then((r) => r.result));
      let h = 0;
      for (const b of data) h = (Math.imul(h, 31) + b) | 0;
      want.push([n, h]);
      const m = [5, 700, 2040, 150_000][i % 4];
      calls.push(c.call('pool.big', [m, String.fromCharCode(97 + (i % 26))]).then((r) => r.result));
      want.push(String.fromCharCode(97 + (i % 26)).repeat(m));
    }
    expect(await Promise.all(calls)).to.deep.equal(want);
    const big = Buffer.alloc(300_000, 7);
    expect((await c.call('sha256', [big, 2])).result).to.equal(sha256Rounds(big, 2));
    c.close();
  });

  it('serves many tasks from one reactor through small rings (full rings, waiting queue), every answer right', async function () {
    this.timeout(15000);
    srv = await startPool({ workers: 2, pool: { ringBytes: 1024, maxQueue: 20000 }, maxInflight: 4096 });
    const clients = await Promise.all([0, 1, 2, 3].map(() => RpcClient.connect(srv.url)));
    const per = 2500;
    const all: Array<Promise<void>> = [];
    let bad = 0;
    for (const [k, c] of clients.entries()) {
      for (let b = 0; b < per; b += 50) {
        const frame: Buffer[] = [];
        for (let i = b; i < b + 50; i++) {
          const id = c.id();
          const tag = `${k}:${i}`;
          frame.push(encodeRequest(id, 'pool.touch', [tag]));
          all.push(
            c.reply(id).then((r) => {
              if (r.result !== tag && bad++ === 0) console.log('first bad answer', r);
            }),
          );
        }
        c.sendRaw(Buffer.concat(frame));
      }
    }
    await Promise.all(all);
    expect(bad).to.equal(0);
    expect(all.length).to.equal(4 * per);
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(metric(m, 'ringloop_pool_tasks_total{outcome="ok"}')).to.be.at.least(4 * per);
    for (const c of clients) c.close();
  });

  it('exports pool metrics: queue depth, tasks by outcome, run and wait histograms, per-worker utilization', async () => {
    srv = await startPool({ workers: 2 });
    const c = await RpcClient.connect(srv.url);
    await Promise.all([c.call('pool.block', [60]), c.call('pool.block', [60]), c.call('pool.throw', ['x'])]);
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(m).to.match(/^ringloop_pool_queue_depth 0$/m);
    expect(metric(m, 'ringloop_pool_tasks_total{outcome="ok"}')).to.be.at.least(2);
    expect(metric(m, 'ringloop_pool_tasks_total{outcome="error"}')).to.equal(1);
    expect(metric(m, 'ringloop_pool_task_run_seconds_count')).to.be.at.least(3);
    expect(metric(m, 'ringloop_pool_task_run_seconds_sum')).to.be.at.least(0.1);
    expect(metric(m, 'ringloop_pool_task_wait_seconds_count')).to.be.at.least(3);
    expect(metric(m, 'ringloop_pool_worker_busy_seconds_total')).to.be.at.least(0.1);
    const util = [...m.matchAll(/^ringloop_pool_worker_utilization\{worker="(\d)"\} (\S+)$/gm)].map((x) => Number(x[2]));
    expect(util).to.have.length(2);
    for (const u of util) expect(u).to.be.within(0, 1);
    expect(util.some((u) => u > 0)).to.equal(true);
    expect(m).to.match(/^ringloop_pool_workers 2$/m);
    c.close();
  });
});
