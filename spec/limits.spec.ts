import { expect } from 'chai';
import { encodeRequest } from '../lib/protocol/codec';
import { delay, RpcClient, startReactor } from './helpers/client';

describe('per-connection limits and deadlines', () => {
  it('--max-inflight: extra requests get OVERLOADED at once, the connection stays open', async () => {
    const srv = await startReactor({ maxInflight: 4 });
    const c = await RpcClient.connect(srv.url);
    const t0 = Date.now();
    c.sendRaw(Buffer.concat([101, 102, 103, 104, 105, 106].map((id) => encodeRequest(id, 'sleep', [200]))));
    const r5 = await c.reply(105);
    expect(Date.now() - t0).to.be.below(150);
    expect(r5.error?.code).to.equal('OVERLOADED');
    expect((await c.reply(106)).error?.code).to.equal('OVERLOADED');
    for (const id of [101, 102, 103, 104]) expect((await c.reply(id)).result).to.equal(200);
    // Capacity is released once answered.
    expect((await c.call('sleep', [1])).result).to.equal(1);
    c.close();
    await srv.close();
  });

  it('in-flight limits are per connection', async () => {
    const srv = await startReactor({ maxInflight: 2 });
    const a = await RpcClient.connect(srv.url);
    const b = await RpcClient.connect(srv.url);
    a.sendRaw(Buffer.concat([101, 102].map((id) => encodeRequest(id, 'sleep', [100]))));
    await delay(20);
    expect((await a.call('sleep', [10])).error?.code).to.equal('OVERLOADED');
    expect((await b.call('sleep', [10])).result).to.equal(10);
    expect((await a.reply(102)).result).to.equal(100);
    a.close();
    b.close();
    await srv.close();
  });

  it('--request-timeout: a slow request gets TIMEOUT and its late result is discarded', async () => {
    const srv = await startReactor({ requestTimeout: 0.2 });
    const c = await RpcClient.connect(srv.url);
    const t0 = Date.now();
    const r = await c.call('sleep', [1500]);
    const took = Date.now() - t0;
    expect(r.error?.code).to.equal('TIMEOUT');
    expect(took).to.be.within(150, 600);
    expect((await c.call('echo', ['after'])).result).to.equal('after');
    await delay(100);
    expect(c.replies.filter((x) => x.msgid === r.msgid)).to.have.length(1);
    expect(srv.reactor.renderMetrics()).to.match(/ringloop_rpc_requests_total\{outcome="TIMEOUT"\} 1/);
    c.close();
    await srv.close();
  });

  it('per-method timeouts override --request-timeout', async () => {
    const srv = await startReactor({ requestTimeout: 10 }, (r) => {
      r.method('slowpoke', () => new Promise((res) => setTimeout(() => res(1), 2000)), { timeout: 0.1 });
    });
    const c = await RpcClient.connect(srv.url);
    const t0 = Date.now();
    expect((await c.call('slowpoke', [])).error?.code).to.equal('TIMEOUT');
    expect(Date.now() - t0).to.be.below(1000);
    c.close();
    await srv.close();
  });

  it('--idle-timeout closes a peer that sends nothing and ignores pings', async () => {
    const srv = await startReactor({ idleTimeout: 0.6 });
    const deaf = await RpcClient.connect(srv.url, { autoPong: false });
    const live = await RpcClient.connect(srv.url); // answers pings
    const t0 = Date.now();
    const { code } = await deaf.closed;
    expect(Date.now() - t0).to.be.within(400, 2000);
    expect(code).to.equal(1000);
    await delay(700);
    expect(live.ws.readyState).to.equal(live.ws.OPEN);
    expect((await live.call('echo', [1])).result).to.equal(1);
    live.close();
    await srv.close();
  });

  it('--idle-timeout 0 never closes', async () => {
    const srv = await startReactor({ idleTimeout: 0 });
    const deaf = await RpcClient.connect(srv.url, { autoPong: false });
    await delay(1200);
    expect(deaf.ws.readyState).to.equal(deaf.ws.OPEN);
    deaf.close();
    await srv.close();
  });
});
