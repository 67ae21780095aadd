/** Client across lost connections: a killed and restarted server process, an unresponsive server, goaway handover, pub/sub restore. */
import { expect } from 'chai';
import { connect, RingloopError, type RingloopClient } from '../lib/client';
import { startCli, delay, until } from './helpers/client';
import { ScriptServer } from './helpers/script-server';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './helpers/ports';
import { freeze, killTree } from './helpers/reactor-proc';

/**
 * HAProxy, 'balance first' over servers a then b on each frontend, checked every `inter` (HTTP: /healthz, which
 * answers 503 once an instance drains; TCP: a connect). kill() stops it and removes its config.
 */
function startHaproxy(inter: string, fronts: Array<{ mode: 'http' | 'tcp'; port: number; servers: [number, number] }>): { kill: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringloop-haproxy-'));
  const cfg = path.join(dir, 'haproxy.cfg');
  const lines = ['defaults', '  timeout connect 1s', '  timeout client 30s', '  timeout server 30s', '  timeout tunnel 30s', '  retries 3', '  option redispatch'];
  fronts.forEach((f, i) => {
    lines.push(`frontend f${i}`, `  mode ${f.mode}`, `  bind 127.0.0.1:${f.port}`, `  default_backend b${i}`, `backend b${i}`, `  mode ${f.mode}`, '  balance first');
    if (f.mode === 'http') lines.push('  option httpchk', '  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost');
    f.servers.forEach((port, k) => lines.push(`  server ${'ab'[k]} 127.0.0.1:${port} check inter ${inter} fall 1 rise 1`));
  });
  fs.writeFileSync(cfg, lines.join('\n') + '\n');
  const proc = spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' });
  return {
    kill: () => {
      proc.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Calls from every client, several per tick plus slow ones, until stop() resolves with what failed. */
function driveLoad(clients: RingloopClient[]): { count: () => number; stop: () => Promise<string[]> } {
  const results: Array<Promise<unknown>> = [];
  let stop = false;
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      for (const c of clients) {
        for (let k = 0; k < 4; k++) results.push(c.call('echo', [i * 4 + k]));
        results.push(c.call('sleep', [20]));
      }
      await delay(2);
    }
  })();
  return {
    count: () => results.length,
    stop: async () => {
      stop = true;
      await load;
      const settled = await Promise.allSettled(results);
      return settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String((r.reason as Error).message));
    },
  };
}

describe('client reconnect (real server process)', function () {
  this.timeout(30000);

  it('a frozen server is detected by ping, then killed and restarted on the same port: in-flight calls fail DISCONNECTED, queued ones succeed, events tell', async () => {
    const first = await startCli(['serve', '--port', '0', '--workers', '1']);
    const port = first.port;
    const events: string[] = [];
    const c = connect(first.url, { pingInterval: 150, reconnect: { initialDelay: 50, maxDelay: 200 } });
    c.on('open', (i) => events.push(`open ${String(i.reconnected)}`));
    c.on('close', (i) => events.push(`close ${i.code}`));
    c.on('reconnecting', () => events[events.length - 1] !== 'reconnecting' && events.push('reconnecting'));
    let second: Awaited<ReturnType<typeof startCli>> | undefined;
    try {
      expect(await c.call('echo', [1])).to.equal(1);
      const inflight = c.call('sleep', [5000]);
      await delay(50);
      // Frozen first (the client notices by ping and closes its side), then killed: the port is free at once.
      freeze(first.proc.pid!);
      const e = (await inflight.catch((x: unknown) => x)) as RingloopError;
      expect(e.code).to.equal('DISCONNECTED');
      killTree(first.proc.pid!);
      await first.exited;
      const queued = [c.call('echo', ['q1']), c.call('add', [1, 2])];
      second = await startCli(['serve', '--port', String(port), '--workers', '1']);
      expect(await Promise.all(queued)).to.deep.equal(['q1', 3]);
      expect(events).to.deep.equal(['open false', 'close 1006', 'reconnecting', 'open true']);
    } finally {
      await c.close();
      first.proc.kill('SIGKILL');
      second?.proc.kill('SIGKILL');
    }
  });
});

describe('client liveness (scripted server)', () => {
  let s: ScriptServer;
  beforeEach(async () => (s = await ScriptServer.start()));
  afterEach(() => s.close());

  it('drops and replaces a connection whose server stops answering pings', async () => {
    const c = connect(s.url, { pingInterval: 100, reconnect: { initialDelay: 10 } });
    try {
      await c.opened();
      const closed = new Promise<number>((resolve) => c.on('close', (i) => resolve(i.code)));
      s.silent = true;
      expect(await closed).to.equal(1006);
      s.silent = false;
      await until('the client to connect', () => c.isOpen, 5000);
      expect(await c.call('echo', ['back'])).to.equal('back');
      expect(s.conns.length).to.equal(2);
    } finally {
      await c.close();
    }
  });

  it('without pings (as in browsers), a call timing out on a silent connection triggers a probe that replaces it', async () => {
    const c = connect(s.url, { pingInterval: 0, timeout: 100, reconnect: { initialDelay: 10 } });
    try {
      await c.opened();
      s.silent = true;
      const closed = new Promise<number>((resolve) => c.on('close', (i) => resolve(i.code)));
      expect((await c.call('echo', [1]).catch((e: RingloopError) => e)) as RingloopError).to.have.property('code', 'CLIENT_TIMEOUT');
      await closed;
      s.silent = false;
      expect(await c.call('echo', ['fresh'])).to.equal('fresh');
    } finally {
      await c.close();
    }
  });
});

describe('client goaway handover (scripted server)', () => {
  let s: ScriptServer;
  let c: RingloopClient;
  beforeEach(async () => {
    s = await ScriptServer.start();
    c = connect(s.url);
    await c.opened();
  });
  afterEach(async () => {
    await c.close();
    await s.close();
  });

  it('on goaway, new calls go to a new connection at once; the old one finishes its calls and the client closes it', async () => {
    const goaways: string[] = [];
    c.on('goaway', (i) => goaways.push(i.reason));
    const old = s.conns[0];
    const slow = c.call('sleep', [200]);
    await delay(20);
    s.goaway(old);
    await until('the goaway', () => goaways.length === 1, 5000);
    expect(await c.call('whoami', [])).to.equal(1); // the new connection
    expect(old.ws.readyState).to.equal(old.ws.OPEN);
    expect(await slow).to.equal(200); // answered on the old one
    await until('the old connection to close', () => old.ws.readyState === old.ws.CLOSED, 5000);
    expect(goaways).to.deep.equal(['restart']);
  });

  it('resends once, on a new connection, calls answered SHUTTING_DOWN (sent before the goaway arrived): zero failures', async () => {
    s.refuseAfterGoaway = true;
    const old = s.conns[0];
    old.goneAway = true; // the server refuses, its goaway notification not yet sent
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => c.call('echo', [i])));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(old.messages).to.deep.equal([10]); // all were refused there first
    expect(s.conns.length).to.equal(2);
    expect(s.conns[1].messages).to.deep.equal([10]); // and resent together on the new one
  });

  it('under load across a goaway (shutdown): SHUTTING_DOWN answers and a 1001 close lose no call', async () => {
    s.refuseAfterGoaway = true;
    s.closeWhenIdle = true;
    const old = s.conns[0];
    const results: Array<Promise<unknown>> = [];
    let stop = false;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        results.push(c.call('echo', [i]));
        if (i % 5 === 0) results.push(c.call('sleep', [5]));
        await delay(1);
      }
    })();
    await delay(50);
    s.goaway(old, 'shutdown');
    await delay(100);
    stop = true;
    await load;
    const settled = await Promise.allSettled(results);
    expect(settled.filter((r) => r.status === 'rejected')).to.deep.equal([]);
    expect(old.ws.readyState).to.equal(old.ws.CLOSED);
    expect(s.conns.length).to.equal(2);
  });

  it('a 1001 close without goaway: unanswered calls are resent on a new connection at once', async () => {
    const p = c.call('sleep', [10000]);
    await delay(30);
    s.silent = true; // the sleep never answers on the old connection
    s.conns[0].ws.close(1001, 'going away');
    await delay(30);
    s.silent = false;
    // Resent: the new connection runs a fresh 10 s sleep; answer it sooner by hand.
    await until('a second connection carrying a message', () => s.conns.length === 2 && s.conns[1].messages.length > 0, 5000);
    expect(s.conns[1].messages[0]).to.be.greaterThan(0);
    s.conns[1].ws.close(1001, 'again'); // a second 1001: resent once only, so this one fails
    expect(((await p.catch((e: RingloopError) => e)) as RingloopError).code).to.equal('DISCONNECTED');
  });
});

describe('client pub/sub (scripted server, CONTRACT.md semantics)', () => {
  let s: ScriptServer;
  beforeEach(async () => (s = await ScriptServer.start()));
  afterEach(() => s.close());

  it('subscribes, receives, publishes and unsubscribes; one server subscription for several handlers', async () => {
    const c = connect(s.url);
    try {
      const a: unknown[] = [];
      const b: unknown[] = [];
      const sa = await c.subscribe('room.1', (d) => a.push(d));
      const sb = await c.subscribe('room.1', (d) => b.push(d));
      expect(s.subscribers('room.1')).to.equal(1);
      expect(await c.publish('room.1', { hi: 1 })).to.equal(true);
      await until('both deliveries', () => a.length === 1 && b.length === 1, 5000);
      expect(a).to.deep.equal([{ hi: 1 }]);
      await sa.unsubscribe();
      expect(s.subscribers('room.1')).to.equal(1);
      await sb.unsubscribe();
      expect(s.subscribers('room.1')).to.equal(0);
      await c.publish('room.1', 'unheard');
      await delay(20);
      expect(a).to.have.length(1);
      expect(b).to.have.length(1);
    } finally {
      await c.close();
    }
  });

  it('restores subscriptions after a lost connection and tells that messages may have been missed', async () => {
    const c = connect(s.url, { reconnect: { initialDelay: 10 } });
    try {
      const got: unknown[] = [];
      await c.subscribe('news', (d) => got.push(d));
      const told = new Promise<string[]>((resolve) => c.on('resubscribed', (i) => resolve(i.topics)));
      s.conns[0].ws.terminate();
      expect(await told).to.deep.equal(['news']);
      expect(s.subscribers('news')).to.equal(1);
      s.publish('news', 'after');
      await until('the first delivery', () => got.length === 1, 5000);
      expect(got).to.deep.equal(['after']);
    } finally {
      await c.close();
    }
  });

  it('moves subscriptions to the new connection on goaway without losing or doubling a message', async () => {
    const c = connect(s.url);
    try {
      const got: unknown[] = [];
      let told = false;
      c.on('resubscribed', () => (told = true));
      await c.subscribe('feed', (d) => got.push(d));
      s.goaway(s.conns[0]);
      for (let i = 0; i < 20; i++) {
        s.publish('feed', i);
        await delay(2);
      }
      await until('the first connection to close', () => s.conns[0].ws.readyState === s.conns[0].ws.CLOSED, 5000);
      s.publish('feed', 'last');
      await until('the last message', () => got.includes('last'), 5000);
      expect(got).to.deep.equal([...Array.from({ length: 20 }, (_, i) => i), 'last']);
      expect(told).to.equal(false);
    } finally {
      await c.close();
    }
  });
});

describe('client across a real graceful shutdown (SIGTERM, another instance behind HAProxy)', function () {
  this.timeout(30000);

  it('loses no call over WebSocket or TCP: goaway moves new calls to the other instance, SHUTTING_DOWN answers are resent', async () => {
    const [aTcp, bTcp, front, frontTcp] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const a = await startCli(['serve', '--port', '0', '--tcp-port', String(aTcp), '--workers', '1']);
    const b = await startCli(['serve', '--port', '0', '--tcp-port', String(bTcp), '--workers', '1']);
    const proxy = startHaproxy('200ms', [
      { mode: 'http', port: front, servers: [a.port, b.port] },
      { mode: 'tcp', port: frontTcp, servers: [aTcp, bTcp] },
    ]);
    const opts = { reconnect: { initialDelay: 20, maxDelay: 100 } };
    const clients = [connect(`ws://127.0.0.1:${front}`, opts), connect(`tcp://127.0.0.1:${frontTcp}`, opts)];
    try {
      await until('every client to connect', () => clients.every((c) => c.isOpen));
      const goaways: string[] = [];
      for (const c of clients) c.on('goaway', (i) => goaways.push(i.reason));
      const load = driveLoad(clients);
      await delay(200);
      a.proc.kill('SIGTERM'); // 'balance first': both clients are on a
      expect((await a.exited).code).to.equal(0);
      await delay(200);
      const failed = await load.stop();
      expect(failed).to.deep.equal([]);
      expect(goaways).to.deep.equal(['shutdown', 'shutdown']);
      expect(load.count()).to.be.greaterThan(300);
      for (const c of clients) expect(await c.call('echo', ['on b'])).to.equal('on b');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      proxy.kill();
      a.proc.kill('SIGKILL');
      b.proc.kill('SIGKILL');
    }
  });
});

describe('client across hot restarts (SIGHUP) and a rolling restart behind HAProxy', function () {
  this.timeout(40000);

  it('SIGHUP twice under load, 2 reactors, WebSocket and TCP: no call fails, goaway restart is followed', async () => {
    const tcpPort = await freePort();
    const srv = await startCli(['serve', '--port', '0', '--tcp-port', String(tcpPort), '--reactors', '2', '--workers', '2']);
    const opts = { reconnect: { initialDelay: 20, maxDelay: 100 } };
    const clients = [connect(srv.url, opts), connect(srv.url, opts), connect(`tcp://127.0.0.1:${tcpPort}`, opts)];
    const goaways: string[] = [];
    for (const c of clients) c.on('goaway', (i) => goaways.push(i.reason));
    try {
      await Promise.all(clients.map((c) => c.opened()));
      const load = driveLoad(clients);
      for (let n = 1; n <= 2; n++) {
        await delay(200);
        srv.proc.kill('SIGHUP');
        await until(`reload ${n} to complete`, () => srv.logs.filter((l) => l.msg === 'reload complete').length === n, 15000);
      }
      await delay(300);
      const failed = await load.stop();
      expect(failed).to.deep.equal([]);
      expect(load.count()).to.be.greaterThan(300);
      expect(goaways.length).to.be.at.least(6); // each client, each reload
      expect(new Set(goaways)).to.deep.equal(new Set(['restart']));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      srv.proc.kill('SIGKILL');
    }
  });

  it('a rolling restart of two instances behind HAProxy (a stops and comes back, then b): no call fails', async () => {
    const front = await freePort();
    let a = await startCli(['serve', '--port', '0', '--workers', '1']);
    const aPort = a.port;
    const b = await startCli(['serve', '--port', '0', '--workers', '1']);
    const proxy = startHaproxy('100ms', [{ mode: 'http', port: front, servers: [aPort, b.port] }]);
    const clients = [0, 1, 2].map(() => connect(`ws://127.0.0.1:${front}`, { reconnect: { initialDelay: 20, maxDelay: 100 } }));
    const goaways: string[] = [];
    for (const c of clients) c.on('goaway', (i) => goaways.push(i.reason));
    try {
      await until('every client to connect', () => clients.every((c) => c.isOpen));
      const load = driveLoad(clients);
      await delay(200);
      a.proc.kill('SIGTERM'); // everyone moves to b
      await a.exited;
      a = await startCli(['serve', '--port', String(aPort), '--workers', '1']); // a is back (HAProxy sees it within ~100 ms)
      await delay(400);
      b.proc.kill('SIGTERM'); // everyone moves back to a
      await b.exited;
      await delay(200);
      const failed = await load.stop();
      expect(failed).to.deep.equal([]);
      expect(goaways).to.deep.equal(Array(6).fill('shutdown'));
      for (const c of clients) expect(await c.call('echo', ['on a again'])).to.equal('on a again');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      proxy.kill();
      a.proc.kill('SIGKILL');
      b.proc.kill('SIGKILL');
    }
  });
});
