import { expect } from 'chai';
import path from 'node:path';
import { encodeRequest } from '../lib/protocol/codec';
import type { CreateReactorOptions } from '../lib/server/reactor';
import type { Plugin } from '../lib/plugins/plugin';
import { ROOT, RpcClient, delay, httpGet, runCli, startCli, startReactor, type CliServer, type TestServer } from './helpers/client';

const FIXTURE = path.join(ROOT, 'spec', 'fixtures', 'pool-tasks.js');

function startPool(opts: CreateReactorOptions = {}): Promise<TestServer> {
  return startReactor(opts, async (r) => void (await r.register(require(FIXTURE) as Plugin<unknown>)));
}

function outcome(text: string, o: string): number {
  const m = new RegExp(`^ringloop_pool_tasks_total\\{outcome="${o}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('worker pool: deadlines, disconnects and the waiting-queue bound', () => {
  let srv: TestServer;
  afterEach(async () => {
    await srv?.close();
  });

  it('answers TIMEOUT for tasks still queued at their deadline, and they never run', async function () {
    this.timeout(10000);
    srv = await startPool({ workers: 1 });
    const c = await RpcClient.connect(srv.url);
    const blockId = c.id();
    const quick = [1, 2, 3, 4, 5, 6].map(() => c.id());
    // one frame: a 400 ms task, then six tasks with a 0.15 s timeout waiting behind it
    c.sendRaw(Buffer.concat([encodeRequest(blockId, 'pool.block', [400, 'B']), ...quick.map((id, i) => encodeRequest(id, 'pool.quick', [`q${i}`]))]));
    const t0 = Date.now();
    const replies = await Promise.all(quick.map((id) => c.reply(id)));
    const waited = Date.now() - t0;
    for (const r of replies) expect(r.error?.code).to.equal('TIMEOUT');
    expect(waited, 'TIMEOUT at the deadline, not after the blocking task').to.be.below(380);
    expect((await c.reply(blockId)).result).to.equal(400);
    const ran = (await c.call('pool.ran', [])).result as string[];
    expect(ran).to.include('B');
    for (let i = 0; i < 6; i++) expect(ran, 'a timed-out queued task never runs').to.not.include(`q${i}`);
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(outcome(m, 'cancelled') + outcome(m, 'expired')).to.equal(6);
    c.close();
  });

  it('answers TIMEOUT for a running task at its deadline and discards its late result', async () => {
    srv = await startPool({ workers: 1 });
    const c = await RpcClient.connect(srv.url);
    const t0 = Date.now();
    const r = await c.call('pool.slow', [350]);
    expect(r.error?.code).to.equal('TIMEOUT');
    expect(Date.now() - t0).to.be.below(330);
    expect((await c.call('pool.touch', ['after'])).result).to.equal('after');
    expect(c.replies.filter((x) => x.msgid === r.msgid)).to.have.length(1);
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(outcome(m, 'discarded')).to.equal(1);
    c.close();
  });

  it('drops the queued tasks of a client that disconnects before they run; a running one is discarded', async () => {
    srv = await startPool({ workers: 1 });
    const a = await RpcClient.connect(srv.url);
    const ids = [a.id(), ...[1, 2, 3, 4, 5].map(() => a.id())];
    a.sendRaw(Buffer.concat([encodeRequest(ids[0], 'pool.block', [250, 'A-block']), ...ids.slice(1).map((id, i) => encodeRequest(id, 'pool.touch', [`A${i}`]))]));
    await delay(60);
    a.close();
    await a.closed;
    await delay(350);
    const b = await RpcClient.connect(srv.url);
    const ran = (await b.call('pool.ran', [])).result as string[];
    expect(ran).to.include('A-block');
    for (let i = 0; i < 5; i++) expect(ran).to.not.include(`A${i}`);
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(outcome(m, 'cancelled')).to.equal(5);
    expect(outcome(m, 'discarded')).to.equal(1);
    b.close();
  });

  it('aborts ctx.signal inside the worker when a running async task times out or its client disconnects', async function () {
    this.timeout(10000);
    srv = await startPool({ workers: 1 });
    const c = await RpcClient.connect(srv.url);
    const r = await c.call('pool.abortable', [5000]); // method timeout 0.1 s
    expect(r.error?.code).to.equal('TIMEOUT');
    const timedOutAt = Date.now();
    // Nothing else reaches the sleeping worker meanwhile: the pool's cancel must wake it.
    await delay(300);
    const seen = async (n: number): Promise<Array<[string, number]>> => {
      for (let i = 0; i < 100; i++) {
        const a = (await c.call('pool.aborted', [])).result as Array<[string, number]>;
        if (a.length >= n) return a;
        await delay(10);
      }
      throw new Error(`the worker saw ${n} aborts only after 1 s`);
    };
    const [[reason, at]] = await seen(1);
    expect(reason).to.match(/cancelled/);
    expect(at - timedOutAt, 'aborted at the timeout, not at the next task').to.be.below(150);
    // a client that goes away: its running async task sees the abort too
    const d = await RpcClient.connect(srv.url);
    d.sendRaw(encodeRequest(d.id(), 'pool.abortable', [5000]));
    await delay(30);
    d.close();
    expect((await seen(2)).length).to.equal(2);
    c.close();
  });

  it('answers OVERLOADED at once when the waiting queue is full; the rest complete and the pool keeps serving', async function () {
    this.timeout(10000);
    srv = await startPool({ workers: 1, pool: { maxQueue: 3 } });
    const c = await RpcClient.connect(srv.url);
    const blockId = c.id();
    const ids = Array.from({ length: 12 }, () => c.id());
    c.sendRaw(Buffer.concat([encodeRequest(blockId, 'pool.block', [300]), ...ids.map((id, i) => encodeRequest(id, 'pool.touch', [`t${i}`]))]));
    const t0 = Date.now();
    await delay(80);
    const early = c.replies.filter((r) => ids.includes(r.msgid));
    expect(early.length, 'refused at once, while the first task still runs').to.be.at.least(7);
    for (const r of early) expect(r.error?.code).to.equal('OVERLOADED');
    expect(Date.now() - t0).to.be.below(280);
    const all = await Promise.all(ids.map((id) => c.reply(id)));
    const ok = all.filter((r) => r.error === null);
    expect(ok.length + early.length).to.equal(12);
    expect(ok.length).to.be.within(3, 5); // the queue (3) plus what the worker's ring already held
    for (const r of ok) expect(r.result).to.match(/^t\d+$/);
    expect((await c.reply(blockId)).result).to.equal(300);
    expect((await c.call('pool.touch', ['later'])).result).to.equal('later');
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(outcome(m, 'overloaded')).to.equal(early.length);
    expect(m).to.match(/^ringloop_rpc_requests_total\{outcome="OVERLOADED"\} \d+$/m);
    c.close();
  });

  it('ringloop serve --pool-queue N bounds the waiting queue: a burst past it gets OVERLOADED, and every request is answered', async function () {
    this.timeout(20000);
    const burst = async (args: string[]): Promise<{ ok: number; overloaded: number; other: number }> => {
      const cli: CliServer = await startCli(['serve', '--port', '0', '--workers', '1', '--log-level', 'warn', ...args]);
      try {
        const c = await RpcClient.connect(cli.url);
        // a sha256 that keeps the one worker busy for ~300 ms, then a burst behind it
        const t0 = Date.now();
        await c.call('sha256', ['calibrate', 20000]);
        const rounds = Math.min(1_000_000, Math.round((300 * 20000) / Math.max(1, Date.now() - t0)));
        const blockId = c.id();
        const ids = Array.from({ length: 40 }, () => c.id());
        c.sendRaw(Buffer.concat([encodeRequest(blockId, 'sha256', ['block', rounds]), ...ids.map((id, i) => encodeRequest(id, 'sha256', [`t${i}`, 1]))]));
        const all = await Promise.all(ids.map((id) => c.reply(id)));
        expect(typeof (await c.reply(blockId)).result).to.equal('string');
        c.close();
        return {
          ok: all.filter((r) => r.error === null && typeof r.result === 'string').length,
          overloaded: all.filter((r) => r.error?.code === 'OVERLOADED').length,
          other: all.filter((r) => r.error !== null && r.error.code !== 'OVERLOADED').length,
        };
      } finally {
        cli.proc.kill('SIGTERM');
        await cli.exited;
      }
    };
    const bounded = await burst(['--pool-queue', '2']);
    expect(bounded.other).to.equal(0);
    expect(bounded.overloaded, 'refused past the bound').to.be.greaterThan(0);
    expect(bounded.ok + bounded.overloaded).to.equal(40);
    const unbounded = await burst([]); // default 4096
    expect(unbounded).to.deep.equal({ ok: 40, overloaded: 0, other: 0 });
    const bad = await runCli(['serve', '--port', '0', '--pool-queue', '0']);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.match(/--pool-queue must be between 1 and/);
  });
});
