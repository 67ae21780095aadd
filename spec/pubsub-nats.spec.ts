import { expect } from 'chai';
import { pack, unpack } from 'msgpackr';
import { ErrorCode } from '../lib/errors';
import { nats, type NatsMsg } from '../lib/pubsub/nats-client';
import { delay, httpGet, startCli, until, type CliServer } from './helpers/client';
import { NatsServer } from './helpers/nats-server';
import { WsPubClient, type PubClient } from './helpers/pubsub-client';

async function metric(srv: CliServer, re: RegExp): Promise<number> {
  const m = re.exec((await httpGet(srv.port, '/metrics')).body);
  return m === null ? NaN : Number(m[1]);
}

const CONNECTED = /^ringloop_nats_connected (\d+)$/m;

describe('pub/sub across servers through a real nats-server', function () {
  this.timeout(30000);
  let ns: NatsServer;
  let a: CliServer;
  let b: CliServer;
  const clients: PubClient[] = [];
  const client = async (srv: CliServer): Promise<WsPubClient> => {
    const c = await WsPubClient.connect(srv.port);
    clients.push(c);
    return c;
  };
  const count = async (subject: string): Promise<number> => (await ns.subjects()).filter((s) => s === subject).length;

  before(async () => {
    ns = await NatsServer.start(64 * 1024);
    const args = ['serve', '--port', '0', '--nats', ns.url];
    [a, b] = await Promise.all([startCli(args), startCli(args)]);
    await until('both servers connected to NATS', async () => (await metric(a, CONNECTED)) === 1 && (await metric(b, CONNECTED)) === 1);
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const s of [a, b]) {
      s?.proc.kill('SIGTERM');
      await s?.exited;
    }
    await ns?.down();
  });

  it('carries server A\'s publications to B\'s subscribers in order, and delivers them once on A', async () => {
    const onB = await client(b);
    const onA = await client(a);
    await onB.subscribe('chat.room-1');
    await onA.subscribe('chat.room-1');
    await until('both servers subscribed on NATS', async () => (await count('ringloop.chat.room-1')) === 2);
    const pub = await client(a);
    const n = 500;
    for (let i = 0; i < n; i++) pub.notify('ringloop.publish', ['chat.room-1', i]);
    expect((await pub.call('ringloop.publish', ['chat.room-1', 'end'])).result).to.equal(true);
    const want = [...Array.from({ length: n }, (_, i) => i as unknown), 'end'];
    expect((await onB.waitFor(n + 1)).map((m) => m.data)).to.deep.equal(want);
    expect((await onA.waitFor(n + 1)).map((m) => m.data)).to.deep.equal(want);
    await delay(200);
    expect(onA.messages).to.have.length(n + 1); // not again through NATS
    expect(onB.messages).to.have.length(n + 1);
  });

  it('subscribes on NATS only to topics with local subscribers', async () => {
    const c = await client(b);
    expect(await count('ringloop.only.here')).to.equal(0);
    await c.subscribe('only.here');
    await until('B subscribed on NATS', async () => (await count('ringloop.only.here')) === 1);
    expect((await c.call('ringloop.unsubscribe', ['only.here'])).result).to.equal(true);
    await until('B unsubscribed on NATS', async () => (await count('ringloop.only.here')) === 0);
  });

  it('talks to a plain NATS client both ways; a payload that is not plain MessagePack is dropped and counted', async () => {
    const nc = await nats.connect({ servers: [ns.url] });
    try {
      const seen: NatsMsg[] = [];
      nc.subscribe('ringloop.plain.t', { callback: (_e, m) => seen.push(m) });
      const sub = await client(b);
      await sub.subscribe('plain.t');
      await until('B subscribed on NATS', async () => (await count('ringloop.plain.t')) === 2);
      const pub = await client(a);
      expect((await pub.call('ringloop.publish', ['plain.t', { a: 1 }])).result).to.equal(true);
      await until('the plain client got it', () => seen.length === 1);
      expect(unpack(Buffer.from(seen[0]!.data))).to.deep.equal({ a: 1 });
      nc.publish('ringloop.plain.t', pack('from nats'));
      nc.publish('ringloop.plain.t', Buffer.from([0xc1]));
      nc.publish('ringloop.plain.t', pack('after'));
      const got = await sub.waitFor(3);
      expect(got.map((m) => m.data)).to.deep.equal([{ a: 1 }, 'from nats', 'after']);
      expect(await metric(b, /^ringloop_pubsub_dropped_total\{reason="invalid"\} (\d+)$/m)).to.equal(1);
    } finally {
      await nc.close();
    }
  });

  it('answers INVALID_PARAMS for data larger than NATS max_payload and keeps the connection', async () => {
    const c = await client(a);
    const r = await c.call('ringloop.publish', ['big', 'x'.repeat(70 * 1024)]);
    expect(r.error?.code).to.equal(ErrorCode.INVALID_PARAMS);
    expect(r.error?.message).to.match(/max_payload/);
    expect((await c.call('echo', ['ok'])).result).to.equal('ok');
  });

  it('keeps serving through a NATS outage, counts what it could not carry, then reconnects with its subscriptions', async () => {
    const onB = await client(b);
    const onA = await client(a);
    await onB.subscribe('outage');
    await onA.subscribe('outage');
    await until('both subscribed', async () => (await count('ringloop.outage')) === 2);
    await ns.down();
    await until('A sees NATS down', async () => (await metric(a, CONNECTED)) === 0);
    const pub = await client(a);
    expect((await pub.call('ringloop.publish', ['outage', 'while down'])).result).to.equal(true);
    expect((await onA.waitFor(1))[0]!.data).to.equal('while down'); // local delivery goes on
    expect(await metric(a, /^ringloop_pubsub_dropped_total\{reason="nats"\} (\d+)$/m)).to.be.at.least(1);
    expect((await httpGet(a.port, '/healthz')).status).to.equal(200);
    expect((await pub.call('echo', ['rpc still works'])).result).to.equal('rpc still works');
    await ns.up();
    await until('both reconnected', async () => (await metric(a, CONNECTED)) === 1 && (await metric(b, CONNECTED)) === 1);
    await until('subscriptions restored', async () => (await count('ringloop.outage')) === 2);
    expect((await pub.call('ringloop.publish', ['outage', 'back'])).result).to.equal(true);
    expect((await onB.waitFor(1))[0]!.data).to.equal('back');
    expect(onB.messages.map((m) => m.data)).to.deep.equal(['back']);
  });
});
