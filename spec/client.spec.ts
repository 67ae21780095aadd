/** ringloop/client in Node against a real in-process reactor (and a scripted ws server where the wire is observed). */
import { expect } from 'chai';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { connect, ClientErrorCode, RingloopError, type RingloopClient } from '../lib/client';
import { decodeAll, encode, readMsgid, rewriteMsgid } from '../lib/client/codec';
import { encodeNotification } from '../lib/protocol/codec';
import { definePlugin } from '../lib/plugins/plugin';
import { ErrorCode, RpcError } from '../lib/errors';
import { startReactor, delay, ROOT, type TestServer } from './helpers/client';
import { ScriptServer } from './helpers/script-server';
import { freePort } from './helpers/ports';

async function rejection(p: Promise<unknown>): Promise<RingloopError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(RingloopError);
    return e as RingloopError;
  }
  throw new Error('expected a rejection');
}


const recorded: unknown[] = [];
const testPlugin = definePlugin({
  name: 't',
  setup(scope) {
    scope.method('push', ([n], ctx) => {
      for (let i = 0; i < (n as number); i++) ctx.conn.write(encodeNotification('t.event', [i]));
      return true;
    });
    scope.method('record', (params) => void recorded.push(params[0]));
    scope.method('recorded', () => recorded.splice(0));
    scope.method('error', () => {
      throw new RpcError(ErrorCode.INVALID_PARAMS, 'with data', { field: 'x', n: 7 });
    });
  },
});

describe('client (Node, real reactor)', () => {
  let srv: TestServer;
  let tcpPort: number;
  let c: RingloopClient;
  before(async () => {
    srv = await startReactor({ tcpPort: 0 }, (r) => r.register(testPlugin));
    tcpPort = srv.reactor.listenInfo!.tcpPort!;
  });
  after(() => srv.close());
  beforeEach(() => {
    c = connect(srv.url);
  });
  afterEach(() => c.close());

  it('calls methods and gets their results, values unchanged', async () => {
    const bin = Buffer.from([0, 1, 2, 255]);
    const out = await Promise.all([
      c.call('add', [2, 3]),
      c.call('echo', [{ s: 'x', n: null, a: [1, 2.5, true], big: 2n ** 60n }]),
      c.call('echo', [bin]),
      c.call('echo', [undefined]),
    ]);
    expect(out[0]).to.equal(5);
    expect(out[1]).to.deep.equal({ s: 'x', n: null, a: [1, 2.5, true], big: 2n ** 60n });
    expect(Buffer.from(out[2] as Uint8Array).equals(bin)).to.equal(true);
    expect(out[3]).to.equal(null);
  });

  it('rejects with the server error code, message and data', async () => {
    const e1 = await rejection(c.call('add', ['a', 1]));
    expect(e1.code).to.equal('INVALID_PARAMS');
    const e2 = await rejection(c.call('fail', ['boom']));
    expect(e2.code).to.equal('HANDLER_ERROR');
    expect(e2.message).to.equal('boom');
    const e4 = await rejection(c.call('t.error', []));
    expect([e4.code, e4.message, e4.data]).to.deep.equal(['INVALID_PARAMS', 'with data', { field: 'x', n: 7 }]);
    const e3 = await rejection(c.call('nope', []));
    expect(e3.code).to.equal('METHOD_NOT_FOUND');
    expect(await c.call('add', [1, 1])).to.equal(2); // the connection still serves
  });

  it('times out a call with CLIENT_TIMEOUT, ignores the late answer, and keeps serving', async () => {
    const e = await rejection(c.call('sleep', [300], { timeout: 50 }));
    expect(e.code).to.equal(ClientErrorCode.CLIENT_TIMEOUT);
    await delay(300);
    expect(await c.call('echo', ['after'])).to.equal('after');
    const c2 = connect(srv.url, { timeout: 40 });
    try {
      expect((await rejection(c2.call('sleep', [200]))).code).to.equal('CLIENT_TIMEOUT'); // client default
      expect(await c2.call('sleep', [100], { timeout: 0 })).to.equal(100); // 0 = none
    } finally {
      await c2.close();
    }
  });

  it('aborts a call with its AbortSignal (before and while in flight)', async () => {
    const ac = new AbortController();
    const p = c.call('sleep', [500], { signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    const t0 = Date.now();
    expect((await rejection(p)).code).to.equal(ClientErrorCode.ABORTED);
    expect(Date.now() - t0).to.be.below(400);
    expect((await rejection(c.call('echo', [1], { signal: AbortSignal.abort() }))).code).to.equal('ABORTED');
    expect(await c.call('echo', [2])).to.equal(2);
  });

  it('delivers server notifications to on(method) handlers and sends notifications', async () => {
    const got: unknown[] = [];
    const off = c.on('t.event', (params) => got.push(params[0]));
    expect(await c.call('t.push', [3])).to.equal(true);
    expect(got).to.deep.equal([0, 1, 2]);
    off();
    await c.call('t.push', [1]);
    expect(got).to.have.length(3);
    c.notify('t.record', ['n1']);
    c.notify('t.record', ['n2']);
    expect(await c.call('t.recorded', [])).to.deep.equal(['n1', 'n2']);
  });

  it('speaks raw TCP (tcp://) with the same API', async () => {
    const t = connect(`tcp://127.0.0.1:${tcpPort}`);
    try {
      const big = 'x'.repeat(200_000); // split across reads
      expect(await Promise.all([t.call('add', [1, 2]), t.call('echo', [big])])).to.deep.equal([3, big]);
      expect((await rejection(t.call('fail', ['tcp']))).message).to.equal('tcp');
    } finally {
      await t.close();
    }
  });

  it('fails calls that cannot be sent with ENCODE_ERROR or PAYLOAD_TOO_LARGE, and nothing else', async () => {
    expect((await rejection(c.call('echo', [new Date()]))).code).to.equal('ENCODE_ERROR');
    expect((await rejection(c.call('echo', [() => 1]))).code).to.equal('ENCODE_ERROR');
    expect((await rejection(c.call('', []))).code).to.equal('ENCODE_ERROR');
    expect((await rejection(c.call('echo', 'x' as unknown as unknown[]))).code).to.equal('ENCODE_ERROR');
    const small = connect(srv.url, { maxMessageBytes: 1000 });
    try {
      expect((await rejection(small.call('echo', ['y'.repeat(2000)]))).code).to.equal('PAYLOAD_TOO_LARGE');
      expect(await small.call('echo', ['ok'])).to.equal('ok');
    } finally {
      await small.close();
    }
    expect(() => c.notify('echo', [new Date()])).to.throw(RingloopError).with.property('code', 'ENCODE_ERROR');
  });

  it('close() leaves nothing behind: a process that used the client (WebSocket and TCP, a subscription attempt, a pending call) exits by itself', async () => {
    const script = `
      const { connect } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'client'))});
      (async () => {
        const ws = connect(process.argv[1], { pingInterval: 50 });
        const tcp = connect(process.argv[2]);
        await Promise.all([ws.call('echo', [1]), tcp.call('echo', [2])]);
        const pending = ws.call('sleep', [10000]).catch((e) => e.code);
        await Promise.all([ws.close(), tcp.close()]);
        console.log(await pending);
      })();`;
    const t0 = Date.now();
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const p = spawn(process.execPath, ['-e', script, srv.url, `tcp://127.0.0.1:${tcpPort}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.on('exit', (code) => resolve({ code, stdout }));
    });
    expect(out).to.deep.equal({ code: 0, stdout: 'CLIENT_CLOSED\n' });
    expect(Date.now() - t0).to.be.below(5000); // not held by the 10 s call, a timer or a socket
  });

  it('close() fails what is pending with CLIENT_CLOSED, and later calls too', async () => {
    const p = c.call('sleep', [500]);
    await delay(20);
    const closing = c.close();
    expect((await rejection(p)).code).to.equal(ClientErrorCode.CLIENT_CLOSED);
    await closing;
    expect((await rejection(c.call('echo', [1]))).code).to.equal('CLIENT_CLOSED');
    expect(() => c.notify('echo', [1])).to.throw(RingloopError);
  });
});

describe('client batching (scripted server)', () => {
  let s: ScriptServer;
  before(async () => (s = await ScriptServer.start()));
  after(() => s.close());

  it('sends calls made in the same tick as one WebSocket message, later ticks separately', async () => {
    const c = connect(s.url);
    try {
      await c.opened();
      const n0 = s.conns.length - 1;
      const same = await Promise.all(Array.from({ length: 10 }, (_, i) => c.call('echo', [i])));
      expect(same).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      c.notify('nothing', []);
      await c.call('echo', ['a']);
      await c.call('echo', ['b']);
      expect(s.conns[n0].messages).to.deep.equal([10, 2, 1]);
    } finally {
      await c.close();
    }
  });

  it('splits a tick larger than maxMessageBytes into several messages, each within the bound', async () => {
    const c = connect(s.url, { maxMessageBytes: 1024 });
    try {
      await c.opened();
      const n0 = s.conns.length - 1;
      await Promise.all(Array.from({ length: 10 }, () => c.call('echo', ['z'.repeat(300)])));
      expect(s.conns[n0].messages).to.deep.equal([3, 3, 3, 1]);
    } finally {
      await c.close();
    }
  });
});

describe('client bounds and bad input', () => {
  it('holds at most maxQueued calls while disconnected: the next one fails with QUEUE_FULL', async () => {
    const port = await freePort(); // nothing listens there
    const c = connect(`ws://127.0.0.1:${port}`, { maxQueued: 3, reconnect: { initialDelay: 50 } });
    try {
      const held = [c.call('echo', [1]), c.call('echo', [2]), c.call('echo', [3])];
      held.forEach((p) => p.catch(() => undefined));
      expect((await rejection(c.call('echo', [4]))).code).to.equal(ClientErrorCode.QUEUE_FULL);
      expect(() => c.notify('echo', [5])).to.throw(RingloopError).with.property('code', 'QUEUE_FULL');
      expect(c.queuedCount).to.equal(3);
    } finally {
      await c.close();
    }
  });

  it('queues calls while connecting and sends them once open', async () => {
    const port = await freePort();
    const c = connect(`ws://127.0.0.1:${port}`, { reconnect: { initialDelay: 20, maxDelay: 50 } });
    const srv = await startReactor({ port });
    try {
      expect(await Promise.all([c.call('echo', ['q1']), c.call('echo', ['q2'])])).to.deep.equal(['q1', 'q2']);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  it('keeps at most maxInFlight calls unanswered per connection; the rest wait in the bounded queue', async () => {
    const srv = await startReactor({});
    const c = connect(srv.url, { maxInFlight: 2, maxQueued: 1 });
    try {
      await c.opened();
      const a = [c.call('sleep', [100]), c.call('sleep', [100]), c.call('sleep', [100])];
      expect(c.queuedCount).to.equal(1);
      expect((await rejection(c.call('sleep', [1]))).code).to.equal('QUEUE_FULL');
      expect(await Promise.all(a)).to.deep.equal([100, 100, 100]);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  it('gives up after reconnect.maxAttempts with RECONNECT_FAILED, telling reconnecting and close', async () => {
    const port = await freePort();
    const events: string[] = [];
    const c = connect(`ws://127.0.0.1:${port}`, { reconnect: { initialDelay: 10, maxAttempts: 2 } });
    c.on('reconnecting', (i) => events.push(`reconnecting ${i.attempt}`));
    c.on('close', (i) => events.push(`close final=${String(i.final)}`));
    const e = await rejection(c.call('echo', [1]));
    expect(e.code).to.equal(ClientErrorCode.RECONNECT_FAILED);
    expect(events).to.deep.equal(['reconnecting 1', 'reconnecting 2', 'close final=true']);
    expect((await rejection(c.opened())).code).to.equal('RECONNECT_FAILED');
    expect((await rejection(c.call('echo', [1]))).code).to.equal('RECONNECT_FAILED');
    await c.close();
  });

  it('backs off exponentially up to maxDelay, with jitter taking at most its share of each delay', async () => {
    const port = await freePort();
    const exact: number[] = [];
    const c1 = connect(`ws://127.0.0.1:${port}`, { reconnect: { initialDelay: 10, factor: 2, maxDelay: 40, jitter: 0, maxAttempts: 5 } });
    c1.on('reconnecting', (i) => exact.push(i.delay));
    await c1.opened().catch(() => undefined);
    expect(exact).to.deep.equal([10, 20, 40, 40, 40]);
    const jittered: number[] = [];
    const c2 = connect(`ws://127.0.0.1:${port}`, { reconnect: { initialDelay: 20, factor: 1, jitter: 0.5, maxAttempts: 8 } });
    c2.on('reconnecting', (i) => jittered.push(i.delay));
    await c2.opened().catch(() => undefined);
    expect(jittered).to.have.length(8);
    for (const d of jittered) expect(d).to.be.within(10, 20);
    expect(new Set(jittered).size).to.be.greaterThan(1);
  });

  it('rejects bad URLs and bad options with a clear TypeError', () => {
    expect(() => connect('not a url')).to.throw(TypeError, /invalid url/);
    expect(() => connect('http://127.0.0.1:9000')).to.throw(TypeError, /unsupported url scheme http:/);
    expect(() => connect('tcp://127.0.0.1')).to.throw(TypeError, /needs a port/);
    expect(() => connect(42 as unknown as string)).to.throw(TypeError, /url must be a string/);
    expect(() => connect('ws://127.0.0.1:1', { timeout: -1 })).to.throw(TypeError, /option timeout/);
    expect(() => connect('ws://127.0.0.1:1', { maxQueued: 1.5 })).to.throw(TypeError, /option maxQueued must be an integer/);
    expect(() => connect('ws://127.0.0.1:1', { tiemout: 5 } as never)).to.throw(TypeError, /unknown option tiemout/);
    expect(() => connect('ws://127.0.0.1:1', { reconnect: { jitter: 2 } })).to.throw(TypeError, /reconnect.jitter/);
    expect(() => connect('ws://127.0.0.1:1', { reconnect: { delay: 1 } as never })).to.throw(TypeError, /unknown option reconnect.delay/);
    expect(() => connect('ws://127.0.0.1:1', { token: '' })).to.throw(TypeError, /token/);
    expect(() => connect('ws://127.0.0.1:1', 'x' as never)).to.throw(TypeError, /options must be an object/);
  });
});

describe('client send buffer bound', () => {
  it('notifications past maxBufferedBytes in one tick wait in the queue, and past maxQueued throw QUEUE_FULL; the waiting ones still go', async () => {
    const s = await ScriptServer.start();
    const c = connect(s.url, { maxBufferedBytes: 10_000, maxQueued: 50 });
    try {
      await c.opened();
      const payload = 'p'.repeat(1000);
      let sent = 0;
      let full: unknown;
      try {
        for (; sent < 1000; sent++) c.notify('nothing', [payload]);
      } catch (e) {
        full = e;
      }
      expect(full).to.be.instanceOf(RingloopError).with.property('code', 'QUEUE_FULL');
      expect(sent).to.be.within(55, 70); // ~10 in the send buffer, 50 queued
      expect(c.queuedCount).to.equal(50);
      for (let i = 0; i < 200 && c.queuedCount > 0; i++) await delay(10);
      expect(c.queuedCount).to.equal(0);
      expect(await c.call('echo', ['after'], { timeout: 5000 })).to.equal('after');
      const received = s.conns[0].messages.reduce((a, b) => a + b, 0);
      expect(received).to.equal(sent + 1);
    } finally {
      await c.close();
      await s.close();
    }
  });
});

describe('client codec helpers', () => {
  it('reads and rewrites the msgid of an encoded request, whatever its width', () => {
    for (const id of [0, 5, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1]) {
      const bytes = encode([0, id, 'm.x', [1, 'a']]);
      expect(readMsgid(bytes)).to.equal(id);
      const moved = rewriteMsgid(bytes, 2 ** 31 + 7);
      expect(decodeAll(moved)).to.deep.equal([[0, 2 ** 31 + 7, 'm.x', [1, 'a']]]);
      expect(readMsgid(moved)).to.equal(2 ** 31 + 7);
    }
    expect(readMsgid(encode([2, 'm.x', []]))).to.equal(-1);
  });
});
