import { expect } from 'chai';
import http from 'node:http';
import { encodeRequest } from '../lib/protocol/codec';
import { delay, RpcClient, startCli } from './helpers/client';

function keepAliveGet(agent: http.Agent, port: number, path: string): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, reused: req.reusedSocket }));
    });
    req.on('error', reject);
  });
}

describe('graceful shutdown (SIGTERM / SIGINT)', () => {
  it('finishes in-flight requests, refuses new work, closes 1001 and exits 0', async function () {
    this.timeout(15000);
    const srv = await startCli(['serve', '--port', '0', '--drain-timeout', '5']);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await keepAliveGet(agent, srv.port, '/healthz')).status).to.equal(200);
    const c = await RpcClient.connect(srv.url);
    c.sendRaw(Buffer.concat([101, 102, 103].map((id) => encodeRequest(id, 'sleep', [600]))));
    await delay(100);
    const t0 = Date.now();
    srv.proc.kill('SIGTERM');
    await delay(100);
    // Step 1: new connections are refused; a kept-alive HTTP connection sees 503.
    let refused = false;
    try {
      await RpcClient.connect(srv.url);
    } catch {
      refused = true;
    }
    expect(refused, 'new WebSocket refused while draining').to.equal(true);
    const hz = await keepAliveGet(agent, srv.port, '/healthz');
    expect(hz.reused).to.equal(true);
    expect(hz.status).to.equal(503);
    // Step 2: new requests on open connections get SHUTTING_DOWN; running ones complete.
    expect((await c.call('echo', ['late'])).error?.code).to.equal('SHUTTING_DOWN');
    for (const id of [101, 102, 103]) expect((await c.reply(id)).result).to.equal(600);
    expect(c.notifications[0], 'goaway before anything else').to.deep.equal(['ringloop.goaway', [{ reason: 'shutdown' }]]);
    // Step 3 and 4: closed with 1001, exit 0, well within the deadline.
    expect((await c.closed).code).to.equal(1001);
    const { code } = await srv.exited;
    expect(code).to.equal(0);
    expect(Date.now() - t0).to.be.below(3000);
    agent.destroy();
    const lines = srv.logs.map((l) => l.msg);
    expect(lines).to.include.members(['shutdown: stopped accepting', 'shutdown: in-flight requests finished', 'shutdown: complete']);
  });

  it('answers requests still running at --drain-timeout with TIMEOUT (they were started), then exits 0 in time', async function () {
    this.timeout(15000);
    const srv = await startCli(['serve', '--port', '0', '--drain-timeout', '1']);
    const c = await RpcClient.connect(srv.url);
    const slow = c.call('sleep', [8000]);
    await delay(100);
    const t0 = Date.now();
    srv.proc.kill('SIGINT');
    const r = await slow;
    expect(r.error?.code).to.equal('TIMEOUT');
    expect((await c.closed).code).to.equal(1001);
    const { code } = await srv.exited;
    expect(code).to.equal(0);
    expect(Date.now() - t0).to.be.below(1400);
  });

  it('delivers answers still buffered for a slow reader before closing 1001', async function () {
    this.timeout(15000);
    // A bound above what is sent: the answers stay buffered (kernel + uWS) without tripping 1008.
    const srv = await startCli(['serve', '--port', '0', '--drain-timeout', '5', '--max-backpressure', String(16 * 1024 * 1024)]);
    const c = await RpcClient.connect(srv.url, { perMessageDeflate: false });
    c.ws.pause();
    const payload = 'b'.repeat(100 * 1024);
    const ids = Array.from({ length: 60 }, (_, i) => 500 + i); // ~6 MB: kernel buffers fill, uWS buffers the rest
    for (const id of ids) c.sendRaw(encodeRequest(id, 'echo', [payload]));
    await delay(300);
    srv.proc.kill('SIGTERM');
    await delay(1000);
    c.ws.resume();
    for (const id of ids) expect((await c.reply(id)).result).to.equal(payload);
    expect((await c.closed).code).to.equal(1001);
    expect((await srv.exited).code).to.equal(0);
  });

  it('sends goaway and closes an idle connection with 1001 at once; a busy one when its last answer has left', async function () {
    this.timeout(15000);
    const srv = await startCli(['serve', '--port', '0', '--drain-timeout', '5']);
    const idle = await RpcClient.connect(srv.url);
    const busy = await RpcClient.connect(srv.url);
    const running = busy.call('sleep', [700]);
    await delay(100);
    const t0 = Date.now();
    srv.proc.kill('SIGTERM');
    expect((await idle.closed).code).to.equal(1001);
    expect(Date.now() - t0, 'the idle one is not kept until the busy one finishes').to.be.below(500);
    expect(idle.notifications).to.deep.equal([['ringloop.goaway', [{ reason: 'shutdown' }]]]);
    expect((await running).result).to.equal(700);
    expect((await busy.closed).code).to.equal(1001);
    expect(busy.notifications).to.deep.equal([['ringloop.goaway', [{ reason: 'shutdown' }]]]);
    expect((await srv.exited).code).to.equal(0);
  });

  it('exits 0 at once when idle', async function () {
    const srv = await startCli(['serve', '--port', '0']);
    const t0 = Date.now();
    srv.proc.kill('SIGTERM');
    expect((await srv.exited).code).to.equal(0);
    expect(Date.now() - t0).to.be.below(1500);
  });
});
