import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createReactor, definePlugin, type Connection } from '../lib/index';
import { sessionPlugin } from '../lib/plugins/examples/session';
import { delay, RpcClient, runCli, startReactor } from './helpers/client';

const dir = mkdtempSync(path.join(tmpdir(), 'ringloop-plugins-'));

describe('plugins', () => {
  it('namespace methods as plugin.method unless registered topLevel', async () => {
    const p = definePlugin({
      name: 'maths',
      setup(scope) {
        scope.method('double', ([x]) => (x as number) * 2);
        scope.method('triple', ([x]) => (x as number) * 3, { topLevel: true });
      },
    });
    const srv = await startReactor({}, (r) => r.register(p));
    const c = await RpcClient.connect(srv.url);
    expect((await c.call('maths.double', [4])).result).to.equal(8);
    expect((await c.call('double', [4])).error?.code).to.equal('METHOD_NOT_FOUND');
    expect((await c.call('triple', [4])).result).to.equal(12);
    c.close();
    await srv.close();
  });

  it('one plugin cannot silently replace another plugin’s method', async () => {
    const a = definePlugin({ name: 'a', setup: (s) => void s.method('x', () => 1, { topLevel: true }) });
    const b = definePlugin({ name: 'b', setup: (s) => void s.method('x', () => 2, { topLevel: true }) });
    const r = createReactor({ logLevel: 'silent' });
    await r.register(a);
    let err: Error | null = null;
    try {
      await r.register(b);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/"x" registered twice: by plugin a and by plugin b/);
  });

  it('validates options at load, applying defaults, naming the plugin and the option', async () => {
    const seen: unknown[] = [];
    const p = definePlugin<{ limit: number; mode: string }>({
      name: 'opt',
      options: { limit: { type: 'integer', min: 1, default: 10 }, mode: { type: 'string', enum: ['a', 'b'], required: true } },
      setup: (_s, o) => void seen.push(o),
    });
    const fails = async (options: unknown): Promise<string> => {
      try {
        await createReactor({ logLevel: 'silent' }).register(p, options);
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(await fails({ mode: 'c' })).to.match(/plugin opt: option "mode" must be one of a, b/);
    expect(await fails({ mode: 'a', limit: 0 })).to.match(/plugin opt: option "limit" must be at least 1/);
    expect(await fails({ mode: 'a', limit: 1.5 })).to.match(/option "limit" must be an integer/);
    expect(await fails({})).to.match(/plugin opt: option "mode" is required/);
    expect(await fails({ mode: 'a', extra: 1 })).to.match(/plugin opt: unknown option "extra"/);
    await createReactor({ logLevel: 'silent' }).register(p, { mode: 'b' });
    expect(seen).to.deep.equal([{ limit: 10, mode: 'b' }]);
  });

  it('registers plugins in dependency order; a missing dependency or a cycle fails start-up naming both', async () => {
    const order: string[] = [];
    const base = definePlugin({ name: 'base', setup: () => void order.push('base') });
    const top = definePlugin({ name: 'top', dependencies: ['base'], setup: () => void order.push('top') });
    await createReactor({ logLevel: 'silent' }).registerAll([{ plugin: top }, { plugin: base }]);
    expect(order).to.deep.equal(['base', 'top']);
    let msg = '';
    try {
      await createReactor({ logLevel: 'silent' }).registerAll([{ plugin: top }]);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).to.equal('plugin top depends on plugin base, which is not loaded');
    const x = definePlugin({ name: 'x', dependencies: ['y'], setup: () => undefined });
    const y = definePlugin({ name: 'y', dependencies: ['x'], setup: () => undefined });
    try {
      await createReactor({ logLevel: 'silent' }).registerAll([{ plugin: x }, { plugin: y }]);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).to.match(/dependency cycle: x -> y -> x/);
  });

  it('runs onBoot before listening, onConnection/onClose per connection, onShutdown while draining', async () => {
    const events: string[] = [];
    const p = definePlugin({
      name: 'life',
      setup(scope) {
        scope.onBoot(() => void events.push('boot'));
        scope.onConnection((c: Connection) => void events.push(`open:${c.transport}`));
        scope.onClose(() => void events.push('close'));
        scope.onShutdown(async () => {
          await delay(5);
          events.push('shutdown');
        });
      },
    });
    const srv = await startReactor({}, (r) => r.register(p));
    expect(events).to.deep.equal(['boot']);
    const c = await RpcClient.connect(srv.url);
    await c.call('echo', [1]);
    c.close();
    await c.closed;
    await delay(20);
    await srv.close();
    expect(events).to.deep.equal(['boot', 'open:ws', 'close', 'shutdown']);
  });

  it('a throw in onBoot fails listen() with nothing bound', async () => {
    const p = definePlugin({ name: 'badboot', setup: (s) => void s.onBoot(() => Promise.reject(new Error('no database'))) });
    const r = createReactor({ port: 0, logLevel: 'silent' });
    await r.register(p);
    let msg = '';
    try {
      await r.listen();
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).to.equal('plugin badboot failed in onBoot: no database');
    expect(r.listenInfo).to.equal(null);
  });

  it('from the CLI: a throw in setup exits non-zero, nothing listening; a bad plugin option names both', async () => {
    const bad = path.join(dir, 'bad.js');
    writeFileSync(bad, `module.exports = { name: 'kaput', setup() { throw new Error('cannot start'); } };`);
    const r = await runCli(['serve', '--port', '0', '--plugin', bad]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr.trim()).to.equal('ringloop: plugin kaput failed in setup: cannot start');
    expect(r.stdout).to.not.include('"listening"');
    const cfg = path.join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ plugin: ['demo', { path: 'dist/lib/plugins/examples/session.js', options: { maxKeys: -1 } }] }));
    const r2 = await runCli(['serve', '--port', '0', '--config', cfg]);
    expect(r2.stderr.trim()).to.match(/^ringloop: plugin session: option "maxKeys" must be at least 1/);
  });

  it('a throw in a handler is HANDLER_ERROR for that request only', async () => {
    const p = definePlugin({
      name: 'flaky',
      setup: (s) =>
        void s.method('boom', () => {
          throw new TypeError('oops');
        }),
    });
    const srv = await startReactor({}, (r) => r.register(p));
    const c = await RpcClient.connect(srv.url);
    expect((await c.call('flaky.boom', [])).error).to.deep.equal({ code: 'HANDLER_ERROR', message: 'oops' });
    expect((await c.call('echo', ['fine'])).result).to.equal('fine');
    c.close();
    await srv.close();
  });
});

describe('example plugin: session (per-connection state)', () => {
  it('keeps state per connection and drops it on close', async () => {
    const srv = await startReactor({}, (r) => r.register(sessionPlugin, { maxKeys: 2 }));
    const a = await RpcClient.connect(srv.url);
    const b = await RpcClient.connect(srv.url);
    expect((await a.call('session.incr', [])).result).to.equal(1);
    expect((await a.call('session.incr', [5])).result).to.equal(6);
    expect((await b.call('session.incr', [])).result).to.equal(1);
    expect((await a.call('session.set', ['k', { v: 1 }])).result).to.equal(true);
    expect((await a.call('session.get', ['k'])).result).to.deep.equal({ v: 1 });
    expect((await b.call('session.get', ['k'])).result).to.equal(null);
    await a.call('session.set', ['k2', 2]);
    expect((await a.call('session.set', ['k3', 3])).error?.code).to.equal('INVALID_PARAMS');
    const info = (await a.call('session.info', [])).result as { keys: string[]; counter: number };
    expect(info.keys).to.deep.equal(['k', 'k2']);
    expect(info.counter).to.equal(6);
    expect((await a.call('session.incr', ['x'])).error?.code).to.equal('INVALID_PARAMS');
    a.close();
    b.close();
    await srv.close();
  });
});
