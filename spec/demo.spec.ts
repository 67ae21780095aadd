import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { RpcClient, startReactor, type TestServer } from './helpers/client';

describe('demo plugin over WebSocket', () => {
  let srv: TestServer;
  let c: RpcClient;
  before(async () => {
    srv = await startReactor();
    c = await RpcClient.connect(srv.url);
  });
  after(async () => {
    c.close();
    await srv.close();
  });

  it('echo returns every MessagePack type unchanged', async () => {
    const values: unknown[] = ['héllo', '', 0, -1, 2 ** 31, 2 ** 40, -(2 ** 40), 1.5, true, false, null, [1, [2, 'x']], { a: 1, b: { c: [true] } }];
    for (const v of values) {
      const r = await c.call('echo', [v]);
      expect(r.error, JSON.stringify(v)).to.equal(null);
      expect(r.result).to.deep.equal(v);
    }
    const bin = Buffer.from([0, 1, 2, 255]);
    const r = await c.call('echo', [bin]);
    expect(Buffer.isBuffer(r.result) || r.result instanceof Uint8Array).to.equal(true);
    expect(Buffer.from(r.result as Uint8Array).equals(bin)).to.equal(true);
  });

  it('echo with the wrong arity is INVALID_PARAMS', async () => {
    const r = await c.call('echo', [1, 2]);
    expect(r.error?.code).to.equal('INVALID_PARAMS');
  });

  it('add sums numbers and refuses anything else', async () => {
    expect((await c.call('add', [1, 2])).result).to.equal(3);
    expect((await c.call('add', [0.5, 0.25])).result).to.equal(0.75);
    for (const bad of [['1', 2], [1], [1, null], [[], {}], []]) {
      const r = await c.call('add', bad);
      expect(r.error?.code, JSON.stringify(bad)).to.equal('INVALID_PARAMS');
      expect(r.result).to.equal(null);
    }
  });

  it('sleep answers after ms without blocking other requests', async () => {
    const t0 = Date.now();
    const slow = c.call('sleep', [300]);
    const fast = await c.call('echo', ['quick']);
    expect(Date.now() - t0).to.be.below(250);
    expect(fast.result).to.equal('quick');
    const r = await slow;
    expect(r.result).to.equal(300);
    expect(Date.now() - t0).to.be.at.least(290);
    for (const bad of [[-1], [60001], ['5'], []]) expect((await c.call('sleep', bad)).error?.code).to.equal('INVALID_PARAMS');
  });

  it('sha256 hashes str and bin for the given rounds', async () => {
    const once = createHash('sha256').update('abc').digest();
    const twice = createHash('sha256').update(once).digest('hex');
    expect((await c.call('sha256', ['abc', 1])).result).to.equal(once.toString('hex'));
    expect((await c.call('sha256', ['abc', 2])).result).to.equal(twice);
    expect((await c.call('sha256', [Buffer.from('abc'), 2])).result).to.equal(twice);
    for (const bad of [['abc', 0], ['abc', 1_000_001], ['abc', 1.5], [5, 1], ['abc']]) {
      expect((await c.call('sha256', bad)).error?.code, JSON.stringify(bad)).to.equal('INVALID_PARAMS');
    }
  });

  it('fail answers HANDLER_ERROR with the message', async () => {
    const r = await c.call('fail', ['boom']);
    expect(r.error).to.deep.equal({ code: 'HANDLER_ERROR', message: 'boom' });
    expect(r.result).to.equal(null);
    expect((await c.call('fail', [3])).error?.code).to.equal('INVALID_PARAMS');
  });

  it('unknown and inherited method names are METHOD_NOT_FOUND', async () => {
    for (const name of ['nope', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const r = await c.call(name, []);
      expect(r.error?.code, name).to.equal('METHOD_NOT_FOUND');
    }
  });

  it('notifications run and are never answered', async () => {
    const before = c.replies.length;
    c.notify('echo', ['x']);
    c.notify('fail', ['nobody hears this']);
    c.notify('nope', []);
    const r = await c.call('echo', ['after']);
    expect(r.result).to.equal('after');
    expect(c.replies.length).to.equal(before + 1);
    const text = srv.reactor.renderMetrics();
    expect(text).to.match(/ringloop_rpc_notifications_total 2/);
    expect(text).to.match(/ringloop_rpc_notifications_dropped_total 1/);
  });
});
