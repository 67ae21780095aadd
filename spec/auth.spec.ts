import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { AuthError } from '../lib/auth/authenticator';
import { encodeRequest } from '../lib/protocol/codec';
import { delay, httpGet, RpcClient, runCli, startReactor, type TestServer } from './helpers/client';
import { TcpRpcClient } from './helpers/tcp-client';

const dir = mkdtempSync(path.join(tmpdir(), 'ringloop-auth-'));
const tokenFile = path.join(dir, 'tokens');
writeFileSync(tokenFile, '# operators\nalpha-token-1\n\n  beta-token-2  \n');

/** The HTTP status of a refused upgrade, or 101 when the WebSocket opened. */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
}

describe('auth at upgrade: --auth-token-file', () => {
  let srv: TestServer;
  let opened = 0;
  before(async () => {
    srv = await startReactor({ authTokenFile: tokenFile, tcpPort: 0, authTimeout: 0.5 }, (r) => {
      r.handler({ onOpen: () => opened++ });
      r.method('whoami', (_p, ctx) => ctx.conn.identity ?? null);
    });
  });
  after(() => srv.close());

  it('rejects a missing or wrong token with 401 before any WebSocket exists', async () => {
    const before = opened;
    expect(await upgradeStatus(srv.url)).to.equal(401);
    expect(await upgradeStatus(srv.url, { Authorization: 'Bearer nope' })).to.equal(401);
    expect(await upgradeStatus(`${srv.url}/?token=alpha-token-`)).to.equal(401);
    expect(await upgradeStatus(srv.url, { Authorization: 'Basic YWxwaGE=' })).to.equal(401);
    await delay(50);
    expect(opened).to.equal(before);
    expect(srv.reactor.renderMetrics()).to.match(/^ringloop_auth_failures_total\{transport="ws"\} 4$/m);
  });

  it('accepts a Bearer header or ?token=, and gives handlers the identity', async () => {
    const a = await RpcClient.connect(srv.url, { headers: { Authorization: 'Bearer alpha-token-1' } });
    expect((await a.call('whoami', [])).result).to.deep.equal({ tokenLine: 2 });
    const b = await RpcClient.connect(`${srv.url}/any/path?x=1&token=beta-token-2`);
    expect((await b.call('whoami', [])).result).to.deep.equal({ tokenLine: 4 });
    expect((await b.call('echo', ['in'])).result).to.equal('in');
    a.close();
    b.close();
  });

  it('/healthz stays open; /metrics needs the token', async () => {
    expect((await httpGet(srv.port, '/healthz')).status).to.equal(200);
    expect((await httpGet(srv.port, '/metrics')).status).to.equal(401);
    expect((await httpGet(srv.port, '/metrics?token=wrong')).status).to.equal(401);
    const ok = await httpGet(srv.port, '/metrics', { Authorization: 'Bearer beta-token-2' });
    expect(ok.status).to.equal(200);
    expect(ok.body).to.include('ringloop_connections');
  });

  it('TCP: only `auth` is served until it succeeds; then everything works', async () => {
    const c = await TcpRpcClient.connect(srv.reactor.listenInfo!.tcpPort!);
    const early = await c.call('echo', ['too soon']);
    expect(early.error?.code).to.equal('INVALID_REQUEST');
    expect(early.error?.message).to.match(/authenticate first/);
    expect((await c.call('auth', ['alpha-token-1'])).result).to.equal(true);
    expect((await c.call('whoami', [])).result).to.deep.equal({ tokenLine: 2 });
    c.close();
  });

  it('TCP: a wrong token is answered and the connection closed', async () => {
    const c = await TcpRpcClient.connect(srv.reactor.listenInfo!.tcpPort!);
    const r = await c.call('auth', ['guess']);
    expect(r.error?.code).to.equal('INVALID_REQUEST');
    expect(r.error?.message).to.match(/authentication failed/);
    await c.closed;
  });

  it('TCP: no auth request within --auth-timeout closes the connection', async () => {
    const c = await TcpRpcClient.connect(srv.reactor.listenInfo!.tcpPort!);
    const t0 = Date.now();
    await c.closed;
    expect(Date.now() - t0).to.be.within(300, 2000);
  });

  it('a missing token file is a one-line start-up error naming the option', async () => {
    const r = await runCli(['serve', '--port', '0', '--auth-token-file', path.join(dir, 'missing')]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr.trim()).to.match(/^ringloop: --auth-token-file .*cannot read/);
  });
});

describe('auth at upgrade: a custom authenticate(request) hook', () => {
  it('sees headers, URL, query and address; async accept attaches the identity; AuthError picks 401/403', async () => {
    const seen: Array<{ url: string; query: string; remote: string; agent: string | undefined }> = [];
    const srv = await startReactor({}, (r) => {
      r.authenticate(async (req) => {
        seen.push({ url: req.url, query: req.query, remote: req.remoteAddress, agent: req.headers['user-agent'] });
        await delay(20); // async: the upgrade must survive the await
        if (req.headers['x-user'] === 'mallory') throw new AuthError(403, 'banned');
        return req.headers['x-user'] ? { user: req.headers['x-user'] } : null;
      });
      r.method('whoami', (_p, ctx) => ctx.conn.identity ?? null);
    });
    const c = await RpcClient.connect(`${srv.url}/room/7?lang=en`, { headers: { 'x-user': 'ann', 'user-agent': 'spec' } });
    expect((await c.call('whoami', [])).result).to.deep.equal({ user: 'ann' });
    expect(seen[0]).to.deep.equal({ url: '/room/7', query: 'lang=en', remote: '127.0.0.1', agent: 'spec' });
    expect(await upgradeStatus(srv.url, { 'x-user': 'mallory' })).to.equal(403);
    expect(await upgradeStatus(srv.url)).to.equal(401);
    // A client that gives up during the async check must not crash the server (uWS onAborted).
    const quitter = new WebSocket(srv.url, { headers: { 'x-user': 'bob' } });
    quitter.on('error', () => undefined);
    setTimeout(() => quitter.terminate(), 5);
    await delay(80);
    expect((await c.call('echo', ['still up'])).result).to.equal('still up');
    c.close();
    await srv.close();
  });
});

describe('connection limits', () => {
  it('--max-connections: over the limit an upgrade gets 503 and TCP is closed; freed slots are reused', async () => {
    const srv = await startReactor({ maxConnections: 2, tcpPort: 0 });
    const a = await RpcClient.connect(srv.url);
    const b = await TcpRpcClient.connect(srv.reactor.listenInfo!.tcpPort!);
    expect((await b.call('echo', [1])).result).to.equal(1);
    expect(await upgradeStatus(srv.url)).to.equal(503);
    const c = await TcpRpcClient.connect(srv.reactor.listenInfo!.tcpPort!);
    await c.closed;
    a.close();
    await a.closed;
    await delay(20);
    expect(await upgradeStatus(srv.url)).to.equal(101);
    b.close();
    await srv.close();
  });

  it('--max-connections-per-ip counts each address separately', async () => {
    const srv = await startReactor({ maxConnectionsPerIp: 1 });
    const a = await RpcClient.connect(srv.url);
    expect(await upgradeStatus(srv.url)).to.equal(503);
    // 127.0.0.2 is another address on the loopback interface.
    const other = new WebSocket(srv.url, { localAddress: '127.0.0.2' });
    await new Promise<void>((resolve, reject) => {
      other.once('open', () => resolve());
      other.once('error', reject);
    });
    other.close();
    a.close();
    await srv.close();
  });
});

describe('connection limits count sockets still flushing', () => {
  it('a client closed with 1008 that never reads still holds its slot until its socket is gone', async function () {
    this.timeout(10000);
    const srv = await startReactor({ maxConnections: 1, maxBackpressure: 64 * 1024, idleTimeout: 1 });
    const c = await RpcClient.connect(srv.url, { perMessageDeflate: false });
    c.ws.pause();
    const payload = 'h'.repeat(64 * 1024);
    for (let i = 0; i < 200; i++) c.sendRaw(encodeRequest(1000 + i, 'echo', [payload]));
    for (let i = 0; i < 100 && srv.reactor.connectionCount > 0; i++) await delay(20);
    expect(srv.reactor.connectionCount).to.equal(0); // closed for the reactor...
    expect(await upgradeStatus(srv.url)).to.equal(503); // ...but its socket still holds the slot
    await delay(1500); // past the linger deadline (--idle-timeout): the server cuts the socket
    expect(await upgradeStatus(srv.url)).to.equal(101);
    c.ws.resume();
    await c.closed;
    await srv.close();
  });
});
