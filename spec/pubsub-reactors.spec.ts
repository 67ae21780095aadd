import { expect } from 'chai';
import path from 'node:path';
import { delay, httpGet, ROOT, startCli, type CliServer } from './helpers/client';
import { TcpPubClient, WsPubClient, type PubClient } from './helpers/pubsub-client';

const PROBE = path.join(ROOT, 'spec', 'fixtures', 'reactor-probe.js');

async function pidOf(c: PubClient): Promise<number> {
  return (await c.call('probe.pid', [])).result as number;
}

/** WebSocket clients until one sits on each of `want` reactor processes (the kernel picks the reactor). */
async function onEachReactor(port: number, want: number, skip: Set<number> = new Set()): Promise<Map<number, WsPubClient>> {
  const by = new Map<number, WsPubClient>();
  for (let i = 0; i < 200 && by.size < want; i++) {
    const c = await WsPubClient.connect(port);
    const pid = await pidOf(c);
    if (by.has(pid) || skip.has(pid)) c.close();
    else by.set(pid, c);
  }
  if (by.size < want) throw new Error(`reached ${by.size} of ${want} reactors`);
  return by;
}

describe('pub/sub across the reactor processes of one server (--reactors 2)', function () {
  this.timeout(30000);
  let srv: CliServer;
  const clients: PubClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    srv.proc.kill('SIGTERM');
    await srv.exited;
  });

  it('delivers every publication to the subscribers of both reactors, in order per publisher, and again after a reactor is replaced', async () => {
    srv = await startCli(['serve', '--port', '0', '--tcp-port', '0', '--reactors', '2', '--plugin', 'demo', '--plugin', PROBE]);
    const tcpPort = srv.logs.find((l) => l.msg === 'listening')!.tcpPort as number;
    const ws = await onEachReactor(srv.port, 2);
    clients.push(...ws.values());
    const tcp: TcpPubClient[] = [];
    for (let i = 0; i < 4; i++) tcp.push(await TcpPubClient.connect(tcpPort));
    clients.push(...tcp);
    const subs: PubClient[] = [...ws.values(), ...tcp];
    for (const s of subs) await s.subscribe('fan.out');
    const [[pidA, a], [pidB, b]] = [...ws.entries()];
    const n = 1000;
    for (let i = 0; i < n; i++) a!.notify('ringloop.publish', ['fan.out', `a${i}`]);
    for (let i = 0; i < n; i++) b!.notify('ringloop.publish', ['fan.out', `b${i}`]);
    expect((await a!.call('ringloop.publish', ['fan.out', 'a-end'])).result).to.equal(true);
    for (const s of subs) {
      const got = (await s.waitFor(2 * n + 1)).map((m) => m.data as string);
      expect(got.filter((d) => d.startsWith('a'))).to.deep.equal([...Array.from({ length: n }, (_, i) => `a${i}`), 'a-end']);
      expect(got.filter((d) => d.startsWith('b'))).to.deep.equal(Array.from({ length: n }, (_, i) => `b${i}`));
    }
    await delay(100);
    for (const s of subs) expect(s.messages).to.have.length(2 * n + 1); // nothing twice
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(m).to.match(new RegExp(`^ringloop_pubsub_messages_total\\{direction="published"\\} ${2 * n + 1}$`, 'm'));
    expect(m).to.match(new RegExp(`^ringloop_pubsub_messages_total\\{direction="delivered"\\} ${(2 * n + 1) * subs.length}$`, 'm'));

    // Reactor B dies; its replacement joins the relay and gets A's publications.
    void b!.call('probe.abort', []); // it aborts before its answer leaves
    await b!.closed;
    let fresh: WsPubClient | null = null;
    const deadline = Date.now() + 10000;
    while (fresh === null && Date.now() < deadline) {
      try {
        fresh = (await onEachReactor(srv.port, 1, new Set([pidA, pidB]))).values().next().value ?? null;
      } catch {
        await delay(100);
      }
    }
    expect(fresh, 'a replacement reactor').to.not.equal(null);
    clients.push(fresh!);
    await fresh!.subscribe('fan.out');
    await delay(200); // the relay links to the new reactor
    expect((await a!.call('ringloop.publish', ['fan.out', 'after'])).result).to.equal(true);
    expect((await fresh!.waitFor(1))[0]!.data).to.equal('after');
  });
});

describe('pub/sub with --reactors 2 and --nats', function () {
  this.timeout(30000);

  it('delivers each publication once on every reactor, whether it came from a client, the other reactor or a plain NATS client', async () => {
    const { NatsServer } = await import('./helpers/nats-server');
    const { nats } = await import('../lib/pubsub/nats-client');
    const { pack } = await import('msgpackr');
    const ns = await NatsServer.start();
    const srv = await startCli(['serve', '--port', '0', '--reactors', '2', '--nats', ns.url, '--plugin', 'demo', '--plugin', PROBE]);
    const nc = await nats.connect({ servers: [ns.url] });
    const ws = await onEachReactor(srv.port, 2);
    try {
      for (const c of ws.values()) await c.subscribe('both');
      const deadline = Date.now() + 8000;
      while ((await ns.subjects()).filter((s) => s === 'ringloop.both').length < 2 && Date.now() < deadline) await delay(25);
      const [a, b] = [...ws.values()];
      expect((await a!.call('ringloop.publish', ['both', 'from a'])).result).to.equal(true);
      expect((await b!.call('ringloop.publish', ['both', 'from b'])).result).to.equal(true);
      nc.publish('ringloop.both', pack('from nats'));
      for (const c of ws.values()) await c.waitFor(3);
      await delay(300);
      for (const c of ws.values()) expect(c.messages.map((m) => m.data).sort()).to.deep.equal(['from a', 'from b', 'from nats']);
      // One 0/1 gauge for the server: 1 only while every reactor is connected (not the sum, 2).
      expect((await httpGet(srv.port, '/metrics')).body).to.match(/^ringloop_nats_connected 1$/m);
    } finally {
      for (const c of ws.values()) c.close();
      await nc.close();
      srv.proc.kill('SIGTERM');
      await srv.exited;
      await ns.down();
    }
  });
});
