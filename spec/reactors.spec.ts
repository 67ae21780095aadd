import { expect } from 'chai';
import net from 'node:net';
import path from 'node:path';
import { delay, httpGet, ROOT, RpcClient, runCli, startCli, until, type CliServer } from './helpers/client';
import { TcpRpcClient } from './helpers/tcp-client';

const PROBE = path.join(ROOT, 'spec', 'fixtures', 'reactor-probe.js');

function metric(text: string, key: string): number {
  const line = text.split('\n').find((l) => l.startsWith(key + ' '));
  return line === undefined ? NaN : Number(line.slice(key.length + 1));
}

async function metrics(port: number): Promise<string> {
  return (await httpGet(port, '/metrics')).body;
}

/** Opens WebSocket clients until `want` distinct reactor processes answered; returns one client per pid. */
async function onEachReactor(url: string, want: number): Promise<Map<number, RpcClient>> {
  const by = new Map<number, RpcClient>();
  for (let i = 0; i < 200 && by.size < want; i++) {
    const c = await RpcClient.connect(url);
    const pid = (await c.call('probe.pid', [])).result as number;
    if (by.has(pid)) c.close();
    else by.set(pid, c);
  }
  return by;
}

describe('--reactors N: several reactor processes on one port', function () {
  this.timeout(20000);
  let srv: CliServer | null = null;
  afterEach(async () => {
    if (srv !== null && srv.proc.exitCode === null) {
      srv.proc.kill('SIGTERM');
      await srv.exited;
    }
    srv = null;
  });

  it('serves WebSocket and TCP from every reactor; /metrics through any of them totals the server', async () => {
    srv = await startCli(['serve', '--port', '0', '--tcp-port', '0', '--reactors', '2', '--plugin', 'demo', '--plugin', PROBE]);
    const tcpPort = srv.logs.find((l) => l.msg === 'listening')!.tcpPort as number;
    const ws = await onEachReactor(srv.url, 2);
    expect(ws.size, 'WebSocket connections reach both reactors').to.equal(2);
    // TCP: every reactor accepts from the supervisor's shared socket (the kernel picks which): all are served, by both.
    const tcps = await Promise.all(Array.from({ length: 40 }, () => TcpRpcClient.connect(tcpPort)));
    const tcpPids = new Set(await Promise.all(tcps.map(async (t) => (await t.call('probe.pid', [])).result as number)));
    for (let i = 0; i < 100 && tcpPids.size < 2; i++) {
      const t = await TcpRpcClient.connect(tcpPort);
      tcpPids.add((await t.call('probe.pid', [])).result as number);
      t.close();
    }
    expect(tcpPids.size, 'TCP connections reach both reactors').to.equal(2);
    for (const c of ws.values()) for (let i = 0; i < 5; i++) expect((await c.call('add', [i, 1])).result).to.equal(i + 1);
    const m = await metrics(srv.port);
    // 2 + 40 probe.pid calls at least (onEachReactor may have made more), 10 adds.
    expect(metric(m, 'ringloop_rpc_requests_total{outcome="ok"}')).to.be.at.least(52);
    expect(metric(m, 'ringloop_connections{transport="ws"}')).to.equal(2);
    expect(metric(m, 'ringloop_connections{transport="tcp"}')).to.be.at.least(40); // probe connections may still be closing
    expect(metric(m, 'ringloop_reactors')).to.equal(2);
    const spread = m.split('\n').filter((l) => l.startsWith('ringloop_reactor_connections{'));
    expect(spread).to.have.length(2);
    for (const l of spread) expect(Number(l.split(' ')[1])).to.be.above(0);
    for (const c of ws.values()) c.close();
    for (const t of tcps) t.close();
  });

  it('replaces a reactor that aborts or throws outside a handler within a second; the others keep serving; counters never go back', async () => {
    srv = await startCli(['serve', '--port', '0', '--reactors', '2', '--plugin', 'demo', '--plugin', PROBE]);
    const port = srv.port;
    for (const how of ['abort', 'throw']) {
      const by = await onEachReactor(srv.url, 2);
      const [victimPid, survivorPid] = [...by.keys()];
      const victim = by.get(victimPid)!;
      const survivor = by.get(survivorPid)!;
      for (let i = 0; i < 3; i++) await survivor.call('echo', [i]);
      const before = metric(await metrics(port), 'ringloop_rpc_requests_total{outcome="ok"}');
      const restartsBefore = metric(await metrics(port), 'ringloop_reactor_restarts_total');
      const replacedBefore = srv.logs.filter((l) => l.msg === 'reactor replaced').length;
      void victim.call(`probe.${how}`, []); // its answer may never leave: the process dies first
      expect((await victim.closed).code, `${how}: the dead reactor's clients see the connection drop`).to.equal(1006);
      expect((await survivor.call('echo', ['still here'])).result).to.equal('still here');
      await until('a replacement reactor', async () => srv!.logs.filter((l) => l.msg === 'reactor replaced').length > replacedBefore && metric(await metrics(port), 'ringloop_reactors') === 2, 8000);
      const replaced = srv.logs.filter((l) => l.msg === 'reactor replaced').pop()!;
      expect(replaced.ms as number, `${how}: replaced within a second`).to.be.below(1000);
      const m = await metrics(port);
      expect(metric(m, 'ringloop_reactor_restarts_total')).to.equal(restartsBefore + 1);
      expect(metric(m, 'ringloop_rpc_requests_total{outcome="ok"}'), 'counters never go backwards').to.be.at.least(before + 1);
      expect(srv.logs.some((l) => l.msg === 'reactor died; replacing it')).to.equal(true);
      const again = await onEachReactor(srv.url, 2);
      expect(again.size, 'the replacement serves').to.equal(2);
      expect([...again.keys()]).to.not.include(victimPid);
      for (const c of [...by.values(), ...again.values()]) c.close();
    }
  });

  it('caps each reactor\'s young generation (memory per idle connection) unless node was given its own size', async () => {
    srv = await startCli(['serve', '--port', '0', '--plugin', 'demo', '--plugin', PROBE]);
    let c = await RpcClient.connect(srv.url);
    expect((await c.call('probe.execArgv', [])).result).to.include('--max-semi-space-size=1');
    expect((await c.call('echo', [2 ** 40])).result).to.equal(2 ** 40);
    c.close();
    srv.proc.kill('SIGTERM');
    await srv.exited;
    srv = await startCli(['serve', '--port', '0', '--plugin', 'demo', '--plugin', PROBE], { NODE_OPTIONS: '--max-semi-space-size=8' });
    c = await RpcClient.connect(srv.url);
    const argv = (await c.call('probe.execArgv', [])).result as string[];
    expect(argv.filter((a) => a.startsWith('--max-semi-space-size')), 'the user\'s NODE_OPTIONS size stands alone').to.deep.equal([]);
    c.close();
  });

  it('refuses a bad --reactors with a one-line error naming it, nothing started', async () => {
    for (const bad of ['0', 'many', '1.5']) {
      const r = await runCli(['serve', '--port', '0', '--reactors', bad]);
      expect(r.code).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.include('--reactors');
      expect(r.stdout).to.not.include('"listening"');
    }
    const auto = await startCli(['serve', '--port', '0', '--reactors', 'auto']);
    expect(auto.logs.find((l) => l.msg === 'listening')!.reactors).to.be.at.least(1);
    auto.proc.kill('SIGTERM');
    expect((await auto.exited).code).to.equal(0);
  });

  it('SIGTERM with two reactors: goaway to every connection, each closed 1001, exit 0', async () => {
    srv = await startCli(['serve', '--port', '0', '--reactors', '2', '--plugin', 'demo', '--plugin', PROBE]);
    const by = await onEachReactor(srv.url, 2);
    const running = [...by.values()].map((c) => c.call('sleep', [300]));
    await delay(50);
    srv.proc.kill('SIGTERM');
    for (const r of await Promise.all(running)) expect(r.result).to.equal(300);
    for (const c of by.values()) {
      expect((await c.closed).code).to.equal(1001);
      expect(c.notifications).to.deep.equal([['ringloop.goaway', [{ reason: 'shutdown' }]]]);
    }
    expect((await srv.exited).code).to.equal(0);
  });

  it('SIGTERM: a connection tried the moment goaway arrives is refused, not accepted into a backlog and reset unserved', async () => {
    // TCP's listening socket is the supervisor's, open while any reactor holds it: every reactor must let go of it
    // before any sends goaway. One reactor is kept busy (spin) as the signal arrives; the other's clients move at once.
    srv = await startCli(['serve', '--port', '0', '--tcp-port', '0', '--reactors', '2', '--plugin', 'demo', '--plugin', PROBE]);
    const tcpPort = srv.logs.find((l) => l.msg === 'listening')!.tcpPort as number;
    const byPid = new Map<number, TcpRpcClient>();
    for (let i = 0; i < 100 && byPid.size < 2; i++) {
      const t = await TcpRpcClient.connect(tcpPort);
      const pid = (await t.call('probe.pid', [])).result as number;
      if (byPid.has(pid)) t.close();
      else byPid.set(pid, t);
    }
    expect(byPid.size, 'a TCP connection on each reactor').to.equal(2);
    const [busy, moving] = [...byPid.values()];
    const spun = busy.call('spin', [100000]);
    await delay(20);
    srv.proc.kill('SIGTERM');
    await until('goaway on the idle reactor', () => moving.notifications.length > 0, 5000);
    const outcome = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: tcpPort });
      s.once('connect', () => {
        s.destroy();
        resolve('accepted');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(outcome).to.equal('ECONNREFUSED');
    expect(moving.notifications[0]).to.deep.equal(['ringloop.goaway', [{ reason: 'shutdown' }]]);
    expect((await spun).result).to.equal(100000);
    expect((await srv.exited).code).to.equal(0);
  });
});
