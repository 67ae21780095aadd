import { expect } from 'chai';
import { createReactor, ErrorCode, RpcError, type CallContext, type Connection, type EventHandler, type RpcMessage } from '../lib/index';
import { delay, RpcClient, startReactor } from './helpers/client';

describe('embedding API', () => {
  it('createReactor → method → listen → close, with sync and async methods', async () => {
    const reactor = createReactor({ port: 0, logLevel: 'silent' });
    reactor.method('upper', ([s]) => String(s).toUpperCase());
    reactor.method('later', async ([v]) => {
      await delay(5);
      return v;
    });
    const { port } = await reactor.listen();
    const c = await RpcClient.connect(`ws://127.0.0.1:${port}`);
    expect((await c.call('upper', ['abc'])).result).to.equal('ABC');
    expect((await c.call('later', [{ k: [1] }])).result).to.deep.equal({ k: [1] });
    expect((await c.call('echo', [1])).error?.code).to.equal('METHOD_NOT_FOUND'); // no demo unless registered
    c.close();
    await reactor.close();
  });

  it('maps thrown errors: RpcError keeps its code and data, anything else is HANDLER_ERROR', async () => {
    const srv = await startReactor({}, (r) => {
      r.method('busy', () => {
        throw new RpcError(ErrorCode.OVERLOADED, 'try later', { retryMs: 50 });
      });
      r.method('throwsString', () => {
        throw 'plain string';
      });
      r.method('rejects', () => Promise.reject(new Error('async boom')));
      r.method('unencodable', () => ({ f: () => 1, s: Symbol('x') }));
      r.method('undef', () => undefined);
    });
    const c = await RpcClient.connect(srv.url);
    expect((await c.call('busy', [])).error).to.deep.equal({ code: 'OVERLOADED', message: 'try later', data: { retryMs: 50 } });
    expect((await c.call('throwsString', [])).error).to.deep.equal({ code: 'HANDLER_ERROR', message: 'plain string' });
    expect((await c.call('rejects', [])).error).to.deep.equal({ code: 'HANDLER_ERROR', message: 'async boom' });
    const u = await c.call('unencodable', []);
    expect(u.error?.code).to.equal('HANDLER_ERROR');
    const n = await c.call('undef', []);
    expect(n.error).to.equal(null);
    expect(n.result).to.equal(null);
    expect((await c.call('echo', ['still serving'])).result).to.equal('still serving');
    c.close();
    await srv.close();
  });

  it('gives methods a context: connection, msgid, method, deadline, signal aborted on disconnect', async () => {
    let seen: CallContext | null = null;
    let aborted = false;
    const srv = await startReactor({ requestTimeout: 7 }, (r) => {
      r.method('ctx', (_p, ctx) => {
        seen = ctx;
        return { conn: ctx.conn.id, msgid: ctx.msgid, method: ctx.method, transport: ctx.conn.transport };
      });
      r.method('hang', (_p, ctx) => new Promise(() => ctx.signal.addEventListener('abort', () => (aborted = true))));
    });
    const c = await RpcClient.connect(srv.url);
    const t0 = Date.now();
    const r = await c.call('ctx', []);
    expect(r.result).to.deep.include({ msgid: r.msgid, method: 'ctx', transport: 'ws' });
    expect(seen!.deadline).to.be.within(t0 + 6000, t0 + 8000);
    expect(seen!.log.info).to.be.a('function');
    c.sendRaw(Buffer.from([0x94, 0x00, 0xcc, 0xc8, 0xa4, 0x68, 0x61, 0x6e, 0x67, 0x90])); // [0, 200, "hang", []]
    await delay(50);
    expect(aborted).to.equal(false);
    c.close();
    await c.closed;
    await delay(50);
    expect(aborted, 'signal aborted when the client left').to.equal(true);
    expect(srv.reactor.renderMetrics()).to.match(/^ringloop_rpc_inflight 0$/m);
    await srv.close();
  });

  it('dispatches open, readable, writable, close and tick to handler objects', async () => {
    const events: string[] = [];
    let ticks = 0;
    const h: EventHandler = {
      onOpen: (conn: Connection) => events.push(`open:${conn.transport}`),
      onReadable: (_c: Connection, m: RpcMessage) => events.push(`readable:${m.kind}:${m.method}`),
      onWritable: () => events.push('writable'),
      onClose: (_c: Connection, code: number) => events.push(`close:${code}`),
      onTick: () => {
        ticks++;
        return 20;
      },
    };
    const throwing: EventHandler = {
      onOpen: () => {
        throw new Error('observer bug');
      },
    };
    const srv = await startReactor({}, (r) => {
      r.handler(h).handler(throwing);
      r.method('big', () => Buffer.alloc(4 * 1024 * 1024, 1));
    });
    const c = await RpcClient.connect(srv.url);
    await c.call('echo', [1]);
    c.notify('echo', [2]);
    // A 4 MiB answer to a paused reader builds native backpressure; draining it fires onWritable.
    c.ws.pause();
    const big = c.call('big', []);
    await delay(100);
    c.ws.resume();
    expect(((await big).result as Buffer).length).to.equal(4 * 1024 * 1024);
    await delay(150);
    c.close();
    await c.closed;
    await delay(20);
    expect(events[0]).to.equal('open:ws');
    expect(events).to.include.members(['readable:request:echo', 'readable:notification:echo', 'readable:request:big', 'writable']);
    expect(events[events.length - 1]).to.match(/^close:/);
    expect(ticks).to.be.at.least(5);
    await srv.close();
  });

  it('refuses bad embedding options naming them', () => {
    expect(() => createReactor({ maxInflight: 0 })).to.throw(/--max-inflight/);
    expect(() => createReactor({ port: 99999 })).to.throw(/--port/);
    expect(() => createReactor({ bogus: 1 } as never)).to.throw(/bogus/);
  });

  it('refuses a method name registered twice', () => {
    const r = createReactor({ logLevel: 'silent' });
    r.method('m', () => 1);
    expect(() => r.method('m', () => 2)).to.throw(/registered twice/);
  });
});
