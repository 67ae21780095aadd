/**
 * `ringloop load --reconnect` (issue 11): goaway moves new requests to a new
 * connection while the old one finishes; SHUTTING_DOWN answers and requests
 * a closed connection left unanswered are sent again, counted as resends and
 * not as errors, once in the request counts, their latency from the first
 * send. Against a scripted server (real sockets) for each behaviour, then
 * through a real `ringloop serve` shut down and started again.
 */
import { expect } from 'chai';
import { runLoad, type LoadOptions, type LoadReport } from '../lib/load';
import { delay, httpGet, runCli, startCli } from './helpers/client';
import { startLoad } from './helpers/load-process';
import { restartablePorts } from './helpers/ports';
import { ScriptedServer, type Request, type ScriptedConn } from './helpers/scripted-server';

/** 8 frames × 2 requests: 16 in flight per connection. */
const INFLIGHT = 16;

function load(url: string, extra: Partial<LoadOptions> = {}): Promise<LoadReport> {
  return runLoad({ url, connections: 1, pipeline: 8, batch: 2, durationS: 0.8, drainTimeoutMs: 1500, verify: true, ...extra });
}

/** `ringloop_connections` summed over transports. */
async function openConnections(port: number): Promise<number> {
  const { body } = await httpGet(port, '/metrics');
  let n = 0;
  for (const m of body.matchAll(/^ringloop_connections\{[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
}

/** Every request the client counted ran exactly once on the server, and none failed. */
function expectNothingLost(r: LoadReport, srv: ScriptedServer): void {
  expect(r.errors).to.deep.equal({});
  expect(r.total.errors).to.deep.equal({});
  expect(r.unanswered).to.equal(0);
  expect(r.mismatches).to.equal(0);
  expect(r.total.requests, 'requests counted once').to.equal(srv.ran);
  expect(r.total.results).to.equal(srv.ran);
  expect(r.total.responses).to.equal(r.total.requests);
}

describe('ringloop load --reconnect', function () {
  this.timeout(20000);
  let srv: ScriptedServer | null = null;
  afterEach(() => {
    srv?.close();
    srv = null;
  });

  describe('goaway', () => {
    /** Connection 0 sends goaway after 200 requests, then answers 50 ms late; later connections answer at once. */
    function goawayServer(): ScriptedServer & { afterGoaway: () => number } {
      let after = 0;
      const s = new ScriptedServer((c: ScriptedConn, r: Request) => {
        if (c.index > 0) return c.answer(r);
        if (c.goawaySent) {
          after++;
          c.held.add(r.msgid);
          setTimeout(() => c.answer(r), 50);
          return;
        }
        c.answer(r);
        if (c.received === 200) c.goaway('restart');
      });
      return Object.assign(s, { afterGoaway: () => after });
    }

    it('opens a new connection for new requests, lets the old one finish, then closes it (1000)', async () => {
      const s = goawayServer();
      srv = s;
      await s.listen(0);
      const r = await load(s.url, { reconnect: true });
      expect(s.conns).to.have.length(2);
      const [old, fresh] = s.conns as [ScriptedConn, ScriptedConn];
      // Only requests already on the wire when goaway left reach the old connection.
      expect(s.afterGoaway()).to.be.at.most(INFLIGHT);
      expect(old.closedBy).to.equal('client');
      expect(old.closeCode).to.equal(1000);
      expect(old.unansweredAtClientClose, 'closed only once its requests were answered').to.equal(0);
      expect(fresh.ran).to.be.greaterThan(500);
      expect(r).to.include({ reconnect: true, goaways: 1, reconnects: 1, reconnectFailures: 0, resends: 0, unexpected: 0 });
      expectNothingLost(r, s);
    });

    it('a replacement told to go as soon as it opens is closed and replaced in turn', async () => {
      const s = new ScriptedServer(
        (c, r) => {
          c.answer(r);
          if (c.index === 0 && c.received === 200) c.goaway('restart');
        },
        (c) => {
          if (c.index === 1) c.goaway('restart');
        },
      );
      srv = s;
      await s.listen(0);
      const r = await load(s.url, { reconnect: true });
      expect(s.conns.length).to.be.at.least(3);
      expect(s.conns[1]!.closedBy).to.equal('client');
      expect(s.conns[2]!.ran).to.be.greaterThan(500);
      expect(r.goaways).to.equal(2);
      expect(r.reconnects + r.reconnectFailures).to.be.at.least(2);
      expectNothingLost(r, s);
    });

    it('without --reconnect: goaway is an unexpected message and the connection stays', async () => {
      const s = goawayServer();
      srv = s;
      await s.listen(0);
      const r = await load(s.url);
      expect(s.conns).to.have.length(1);
      expect(s.afterGoaway()).to.be.greaterThan(INFLIGHT);
      expect(r).to.include({ reconnect: false, goaways: 0, reconnects: 0, resends: 0, unexpected: 1 });
    });
  });

  describe('SHUTTING_DOWN', () => {
    /** Connection 0 answers 100 requests, then holds each 150 ms and refuses it; later connections answer. */
    const refusing = (): ScriptedServer =>
      new ScriptedServer((c, r) => {
        if (c.index > 0 || c.received <= 100) return c.answer(r);
        c.held.add(r.msgid);
        setTimeout(() => c.refuse(r), 150);
      });

    it('resends each refused request on a new connection: a resend, not an error, counted once, latency from its first send', async () => {
      const s = refusing();
      srv = s;
      await s.listen(0);
      const r = await load(s.url, { reconnect: true });
      expect(s.refused).to.equal(INFLIGHT);
      expect(r.resends).to.equal(s.refused);
      expect(r.reconnects).to.equal(1);
      expect(s.conns[0]!.closedBy).to.equal('client');
      expect(s.conns[0]!.closeCode).to.equal(1000);
      // Held 150 ms before the refusal: the resent requests' latency includes it.
      expect(r.latencyMs.max).to.be.at.least(150);
      expectNothingLost(r, s);
    });

    it('without --reconnect: SHUTTING_DOWN is an error', async () => {
      const s = refusing();
      srv = s;
      await s.listen(0);
      const r = await load(s.url, { durationS: 0.4 });
      expect(s.conns).to.have.length(1);
      expect(s.refused).to.be.at.least(INFLIGHT);
      expect(r.total.errors).to.deep.equal({ SHUTTING_DOWN: s.refused });
      expect(r).to.include({ resends: 0, reconnects: 0 });
    });
  });

  for (const how of ['1001', 'reset'] as const) {
    it(`a connection closed with requests in flight (${how}), reconnects refused for 300 ms: retried with a backoff, the requests resent`, async () => {
      const s: ScriptedServer = new ScriptedServer((c, r) => {
        if (c.index > 0 || c.received <= 100) return c.answer(r);
        c.held.add(r.msgid);
        if (c.held.size < INFLIGHT) return;
        s.stopListening();
        if (how === '1001') c.close(1001);
        else c.reset();
        setTimeout(() => void s.listen(), 300);
      });
      srv = s;
      await s.listen((await restartablePorts(1))[0]);
      const r = await load(s.url, { reconnect: true, durationS: 1.2 });
      expect(s.conns).to.have.length(2);
      expect(s.conns[0]!.closedBy).to.equal('server');
      expect(r.resends).to.equal(INFLIGHT);
      expect(r.reconnects).to.equal(1);
      expect(r.reconnectFailures).to.be.at.least(2);
      expect(r.droppedConnections).to.equal(1);
      expect(Object.keys(r.closes)).to.have.length(1);
      expect(Object.keys(r.closes)[0]).to.match(how === '1001' ? /^1001$/ : /^(eof-without-close-frame|error:ECONNRESET)$/);
      expect(s.conns[1]!.ran).to.be.greaterThan(500);
      expectNothingLost(r, s);
    });
  }

  it('through a SIGTERM and a restart of ringloop serve on the same ports (ws:// and tcp://): zero errors', async () => {
    const args = (ws: number, tcp: number): string[] => ['serve', '--port', String(ws), '--tcp-port', String(tcp), '--workers', '1', '--log-level', 'warn'];
    const [port, tcpPort] = (await restartablePorts(2)) as [number, number];
    const first = await startCli(args(port, tcpPort));
    const common = ['--reconnect', '--connections', '2', '--pipeline', '8', '--duration', '2', '--json', '--quiet'];
    const runs = Promise.all([
      runCli(['load', '--url', `ws://127.0.0.1:${port}`, ...common], {}, 15000),
      runCli(['load', '--url', `tcp://127.0.0.1:${tcpPort}`, ...common], {}, 15000),
    ]);
    // Both runs connected (2 connections each) and under way.
    const until = Date.now() + 8000;
    while ((await openConnections(port)) < 4 && Date.now() < until) await delay(50);
    await delay(300);
    first.proc.kill('SIGTERM');
    expect((await first.exited).code).to.equal(0);
    const second = await startCli(args(port, tcpPort));
    try {
      for (const out of await runs) {
        expect(out.code, out.stderr).to.equal(0);
        const r = JSON.parse(out.stdout) as LoadReport;
        expect(r.total.errors, r.url).to.deep.equal({});
        expect(r.unanswered).to.equal(0);
        expect(r.total.responses).to.equal(r.total.requests);
        expect(r.results).to.be.greaterThan(1000);
        expect(r.reconnects, r.url).to.be.at.least(2);
        // Shutdown: goaway first, so each connection moved before its 1001.
        expect(r.goaways, r.url).to.be.at.least(2);
      }
    } finally {
      second.proc.kill('SIGTERM');
      await second.exited;
    }
  });

  it('through two hot restarts (SIGHUP, --reactors 2), ws:// and tcp://: zero errors, nothing resent', async () => {
    const [port, tcpPort] = (await restartablePorts(2)) as [number, number];
    const srv = await startCli(['serve', '--port', String(port), '--tcp-port', String(tcpPort), '--reactors', '2', '--workers', '1']);
    const common = ['--reconnect', '--connections', '2', '--pipeline', '8', '--duration', '60'];
    const runs = [startLoad(['--url', `ws://127.0.0.1:${port}`, ...common]), startLoad(['--url', `tcp://127.0.0.1:${tcpPort}`, ...common])];
    try {
      const until = Date.now() + 8000;
      while ((await openConnections(port)) < 4 && Date.now() < until) await delay(50);
      for (const n of [1, 2]) {
        await delay(300);
        srv.proc.kill('SIGHUP');
        while (srv.logs.filter((l) => l.msg === 'reload complete').length < n && Date.now() < until + 5000) await delay(20);
      }
      expect(srv.logs.filter((l) => l.msg === 'reload complete')).to.have.length(2);
      await delay(300);
    } finally {
      for (const run of runs) run.stop();
    }
    try {
      for (const run of runs) {
        const r = await run.report;
        expect(r.total.errors, r.url).to.deep.equal({});
        expect(r.unanswered).to.equal(0);
        expect(r.total.responses).to.equal(r.total.requests);
        expect(r.results).to.be.greaterThan(1000);
        // Each connection was told to go twice and moved; the old generation answered all it had.
        expect(r.goaways, r.url).to.be.at.least(4);
        expect(r.reconnects, r.url).to.be.at.least(4);
        expect(r.resends, r.url).to.equal(0);
        expect(r.closes, r.url).to.deep.equal({});
      }
    } finally {
      srv.proc.kill('SIGTERM');
      await srv.exited;
    }
  });

  it('open loop (--rate): the schedule carries over to the new connection after goaway', async () => {
    let sent = false;
    const s = new ScriptedServer((c, r) => {
      c.answer(r);
      if (c.index === 0 && c.received === 300 && !sent) {
        sent = true;
        c.goaway('restart');
      }
    });
    srv = s;
    await s.listen(0);
    const r = await load(s.url, { reconnect: true, rate: 2000, durationS: 1, batch: 1 });
    expect(s.conns).to.have.length(2);
    expect(s.conns[1]!.ran).to.be.greaterThan(500);
    expect(r).to.include({ goaways: 1, reconnects: 1, resends: 0 });
    expect(r.openLoop!.sendRate).to.be.within(1800, 2200);
    expectNothingLost(r, s);
  });
});
