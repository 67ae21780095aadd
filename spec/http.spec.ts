import { expect } from 'chai';
import { httpGet, RpcClient, startReactor, type TestServer } from './helpers/client';

describe('HTTP on the WebSocket port', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startReactor();
  });
  after(() => srv.close());

  it('GET /healthz is 200 ok while serving', async () => {
    const r = await httpGet(srv.port, '/healthz');
    expect(r.status).to.equal(200);
    expect(r.body).to.equal('ok');
  });

  it('GET /metrics is Prometheus text with every contract metric', async () => {
    const c = await RpcClient.connect(srv.url);
    await c.call('echo', [1]);
    await c.call('nope', []);
    await c.call('sleep', [5]);
    const r = await httpGet(srv.port, '/metrics');
    expect(r.status).to.equal(200);
    expect(r.type).to.match(/^text\/plain; version=0\.0\.4/);
    for (const name of [
      'ringloop_connections',
      'ringloop_rpc_requests_total',
      'ringloop_rpc_duration_seconds',
      'ringloop_pool_queue_depth',
      'ringloop_pool_tasks_total',
      'ringloop_event_loop_lag_seconds',
      'process_resident_memory_bytes',
    ]) {
      expect(r.body, name).to.match(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(r.body).to.match(/^ringloop_connections\{transport="ws"\} 1$/m);
    expect(r.body).to.match(/^ringloop_rpc_requests_total\{outcome="ok"\} 2$/m);
    expect(r.body).to.match(/^ringloop_rpc_requests_total\{outcome="METHOD_NOT_FOUND"\} 1$/m);
    expect(r.body).to.match(/^ringloop_rpc_duration_seconds_count 3$/m);
    expect(r.body).to.match(/^ringloop_rpc_duration_seconds_bucket\{le="\+Inf"\} 3$/m);
    const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(r.body)?.[1]);
    expect(rss).to.be.above(10 * 1024 * 1024);
    // Every sample line is "name{labels} number".
    for (const line of r.body.split('\n').filter((l) => l && !l.startsWith('#'))) {
      expect(line).to.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.e+-]+|NaN|\+Inf)$/);
    }
    c.close();
  });

  it('any other path or method is 404', async () => {
    expect((await httpGet(srv.port, '/')).status).to.equal(404);
    expect((await httpGet(srv.port, '/nope')).status).to.equal(404);
    const post = await fetch(`http://127.0.0.1:${srv.port}/healthz`, { method: 'POST', body: 'x' });
    expect(post.status).to.equal(404);
  });
});
