import { expect } from 'chai';
import { ErrorCode, RpcError } from '../lib/errors';
import { definePlugin } from '../lib/plugins/plugin';
import { createReactor } from '../lib/server/reactor';
import { delay, httpGet, startReactor, type TestServer } from './helpers/client';
import { TcpPubClient, WsPubClient, type PubClient } from './helpers/pubsub-client';

describe('pub/sub on one reactor (WebSocket and TCP)', () => {
  let srv: TestServer;
  let tcpPort: number;
  const open: PubClient[] = [];
  const ws = async (): Promise<WsPubClient> => {
    const c = await WsPubClient.connect(srv.port);
    open.push(c);
    return c;
  };
  const tcp = async (): Promise<TcpPubClient> => {
    const c = await TcpPubClient.connect(tcpPort);
    open.push(c);
    return c;
  };

  beforeEach(async () => {
    srv = await startReactor({ tcpPort: 0, maxSubscriptions: 3, maxBackpressure: 256 * 1024 });
    tcpPort = srv.reactor.listenInfo!.tcpPort!;
  });
  afterEach(async () => {
    for (const c of open.splice(0)) c.close();
    await srv.close();
  });

  it('delivers a publication to WebSocket and TCP subscribers, the publisher included, and counts it', async () => {
    const a = await ws();
    const b = await tcp();
    const pub = await ws();
    await a.subscribe('chat.room-1');
    await b.subscribe('chat.room-1');
    await pub.subscribe('chat.room-1');
    const other = await ws();
    await other.subscribe('chat.room-2');
    const r = await pub.call('ringloop.publish', ['chat.room-1', { text: 'hi', n: [1, 2] }]);
    expect(r.error).to.equal(null);
    expect(r.result).to.equal(true);
    for (const c of [a, b, pub]) expect(await c.waitFor(1)).to.deep.equal([{ topic: 'chat.room-1', data: { text: 'hi', n: [1, 2] } }]);
    await delay(50);
    expect(other.messages).to.have.length(0);
    const m = (await httpGet(srv.port, '/metrics')).body;
    expect(m).to.match(/^ringloop_pubsub_subscriptions 4$/m);
    expect(m).to.match(/^ringloop_pubsub_messages_total\{direction="published"\} 1$/m);
    expect(m).to.match(/^ringloop_pubsub_messages_total\{direction="delivered"\} 3$/m);
  });

  it('subscribing twice is a no-op; unsubscribe answers whether it was subscribed and stops delivery', async () => {
    const a = await tcp();
    expect((await a.call('ringloop.subscribe', ['t'])).result).to.equal(true);
    expect((await a.call('ringloop.subscribe', ['t'])).result).to.equal(true);
    await a.call('ringloop.publish', ['t', 1]);
    await a.waitFor(1);
    expect((await a.call('ringloop.unsubscribe', ['t'])).result).to.equal(true);
    expect((await a.call('ringloop.unsubscribe', ['t'])).result).to.equal(false);
    expect((await a.call('ringloop.publish', ['t', 2])).result).to.equal(true);
    await delay(50);
    expect(a.messages.map((m) => m.data)).to.deep.equal([1]);
    expect((await httpGet(srv.port, '/metrics')).body).to.match(/^ringloop_pubsub_subscriptions 0$/m);
  });

  it('answers INVALID_PARAMS for bad topics on all three methods and keeps the connection working', async () => {
    const c = await ws();
    const bad: unknown[] = ['', 'a..b', '.a', 'a.', 'chat.*', 'chat.>', 'a b', 'é', 'x'.repeat(257), 42, null];
    for (const t of bad) {
      for (const [m, p] of [['ringloop.subscribe', [t]], ['ringloop.unsubscribe', [t]], ['ringloop.publish', [t, 1]]] as const) {
        const r = await c.call(m, [...p]);
        expect(r.error?.code, `${m} ${JSON.stringify(t)}`).to.equal(ErrorCode.INVALID_PARAMS);
      }
    }
    expect((await c.call('ringloop.publish', ['t'])).error?.code).to.equal(ErrorCode.INVALID_PARAMS);
    const long = `${'x'.repeat(100)}.${'y'.repeat(155)}`; // 256 bytes: the longest topic
    expect((await c.call('ringloop.subscribe', [long])).result).to.equal(true);
    expect((await c.call('ringloop.subscribe', ['user:42.in_box-1'])).result).to.equal(true);
    expect((await c.call('echo', ['still here'])).result).to.equal('still here');
  });

  it('refuses more than --max-subscriptions topics with OVERLOADED and keeps serving', async () => {
    const c = await tcp();
    for (const t of ['a', 'b', 'c']) await c.subscribe(t);
    const r = await c.call('ringloop.subscribe', ['d']);
    expect(r.error?.code).to.equal(ErrorCode.OVERLOADED);
    expect((await c.call('ringloop.subscribe', ['a'])).result).to.equal(true); // already subscribed: still fine
    await c.call('ringloop.unsubscribe', ['b']);
    expect((await c.call('ringloop.subscribe', ['d'])).result).to.equal(true);
    expect((await c.call('add', [1, 2])).result).to.equal(3);
  });

  it('publishes from a notification without answering', async () => {
    const sub = await ws();
    await sub.subscribe('n');
    const pub = await tcp();
    pub.notify('ringloop.publish', ['n', 'quiet']);
    expect((await sub.waitFor(1))[0]).to.deep.equal({ topic: 'n', data: 'quiet' });
    expect((await pub.call('echo', [1])).result).to.equal(1); // the only answer it gets
  });

  it('keeps one publisher\'s messages in order for every subscriber', async () => {
    const subs = [await ws(), await ws(), await tcp(), await tcp()];
    for (const s of subs) await s.subscribe('seq');
    const pub = await ws();
    const n = 2000;
    for (let i = 0; i < n; i++) pub.notify('ringloop.publish', ['seq', i]);
    for (const s of subs) {
      const got = await s.waitFor(n);
      expect(got.map((m) => m.data)).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    }
  });

  for (const kind of ['WebSocket', 'TCP'] as const) {
    it(`closes a ${kind} subscriber that stops reading (1008 for WebSocket) while the others get everything`, async function () {
      this.timeout(20000);
      const slow = kind === 'WebSocket' ? await ws() : await tcp();
      const fast = await ws();
      await slow.subscribe('firehose');
      await fast.subscribe('firehose');
      slow.pause();
      const pub = await tcp();
      const payload = 'x'.repeat(1024);
      const n = 16000; // ~16 MB: past the kernel's socket buffers and the 256 KiB bound
      let fastClosed = false;
      void fast.closed.then(() => (fastClosed = true));
      // In batches of 100 KiB the reading subscriber keeps up with (it shares this process with the server).
      for (let sent = 0; sent < n; ) {
        for (let i = 0; i < 100; i++, sent++) pub.notify('ringloop.publish', ['firehose', payload]);
        await fast.waitFor(sent, 15000);
      }
      expect(fastClosed).to.equal(false);
      slow.resume();
      const closed = await slow.closed;
      if (kind === 'WebSocket') expect(closed.code).to.equal(1008);
      expect(slow.messages.length).to.be.above(0).and.below(n);
      expect((await pub.call('echo', ['ok'])).result).to.equal('ok');
    });
  }

  it('lets the embedding application publish and subscribe connections from a handler', async () => {
    const server = await startReactor({}, (r) => {
      r.method('join', ([room], ctx) => r.pubsub.subscribe(ctx.conn, `room.${String(room)}`));
    });
    try {
      const c = await WsPubClient.connect(server.port);
      expect((await c.call('join', ['7'])).result).to.equal(true);
      server.reactor.pubsub.publish('room.7', { from: 'server' });
      expect((await c.waitFor(1))[0]).to.deep.equal({ topic: 'room.7', data: { from: 'server' } });
      expect(() => server.reactor.pubsub.publish('room.*', 1)).to.throw(RpcError).with.property('code', ErrorCode.INVALID_PARAMS);
      expect(() => server.reactor.pubsub.publish('room.7', new Date())).to.throw(RpcError).with.property('code', ErrorCode.INVALID_PARAMS);
      c.close();
    } finally {
      await server.close();
    }
  });

  it('reserves the ringloop. namespace: neither a plugin nor the application can register in it', async () => {
    const r = createReactor({ port: 0, logLevel: 'silent' });
    const bad = definePlugin({ name: 'sneaky', setup: (s) => void s.method('ringloop.publish', () => 1, { topLevel: true }) });
    let err: unknown = null;
    await r.register(bad).catch((e: unknown) => (err = e));
    expect(String(err)).to.match(/reserved/);
    expect(() => r.method('ringloop.anything', () => 1)).to.throw(/reserved/);
  });
});
