import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { OPTION_SPECS } from '../lib/reactor/options';
import { RpcClient, runCli, startCli } from './helpers/client';

const dir = mkdtempSync(path.join(tmpdir(), 'ringloop-cli-'));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function refused(args: string[], mention: string | RegExp): Promise<void> {
  const r = await runCli(args);
  expect(r.code, `${args.join(' ')} exit code`).to.not.equal(0);
  const line = r.stderr.trim();
  expect(line.split('\n'), `${args.join(' ')}: one line`).to.have.length(1);
  if (typeof mention === 'string') expect(line).to.include(mention);
  else expect(line).to.match(mention);
  expect(r.stdout, 'nothing started').to.not.include('"listening"');
}

describe('ringloop CLI', () => {
  it('--help and --version', async () => {
    const h = await runCli(['--help']);
    expect(h.code).to.equal(0);
    expect(h.stdout).to.include('serve');
    const sh = await runCli(['serve', '--help']);
    expect(sh.code).to.equal(0);
    for (const s of OPTION_SPECS) expect(sh.stdout).to.include(`--${s.flag}`);
    const v = await runCli(['--version']);
    expect(v.stdout.trim()).to.match(/^\d+\.\d+\.\d+$/);
  });

  describe('refuses bad options with one line naming them', () => {
    const cases: Array<[string[], string]> = [
      [['--port', '70000'], '--port'],
      [['--port', 'abc'], '--port'],
      [['--tcp-port', '-1'], '--tcp-port'],
      [['--workers', '0'], '--workers'],
      [['--workers', '1.5'], '--workers'],
      [['--max-payload', 'big'], '--max-payload'],
      [['--max-inflight', '0'], '--max-inflight'],
      [['--max-backpressure', '10'], '--max-backpressure'],
      [['--request-timeout', '0'], '--request-timeout'],
      [['--idle-timeout', '-5'], '--idle-timeout'],
      [['--drain-timeout', 'soon'], '--drain-timeout'],
      [['--host', ''], '--host'],
      [['--tls-cert', '/nope.pem'], '--tls-cert'],
      [['--bogus', '1'], '--bogus'],
      [['--plugin', './does-not-exist.js'], 'does-not-exist'],
    ];
    for (const [args, name] of cases) {
      // Validation fails before anything binds, so the default port is never taken.
      it(`${args.join(' ')}`, () => refused(['serve', ...args], name));
    }
    it('an unknown command', () => refused(['frobnicate'], 'frobnicate'));
  });

  describe('--config', () => {
    it('applies every key; flags win over the file', async () => {
      const cfg = file(
        'ok.json',
        JSON.stringify({
          host: '127.0.0.1',
          port: 1,
          workers: 1,
          'max-payload': 4096,
          'max-inflight': 2,
          'max-backpressure': 65536,
          'request-timeout': 0.3,
          'idle-timeout': 0,
          'drain-timeout': 2,
          plugin: ['demo'],
        }),
      );
      const srv = await startCli(['serve', '--config', cfg, '--port', '0']);
      const starting = srv.logs.find((l) => l.msg === 'starting') as { options: Record<string, unknown> };
      expect(starting.options).to.include({ maxPayload: 4096, maxInflight: 2, maxBackpressure: 65536, requestTimeout: 0.3, idleTimeout: 0, drainTimeout: 2, workers: 1 });
      expect(srv.port).to.not.equal(1);
      const c = await RpcClient.connect(srv.url);
      expect((await c.call('sleep', [2000])).error?.code).to.equal('TIMEOUT'); // request-timeout from the file
      c.close();
      srv.proc.kill('SIGTERM');
      expect((await srv.exited).code).to.equal(0);
    });

    it('loads plugins with options from the file', async () => {
      const plugin = file(
        'greeter.js',
        `module.exports = { name: 'greeter', setup(r, o) { r.method('greet', ([n]) => o.greeting + ', ' + n); } };`,
      );
      const cfg = file('plugins.json', JSON.stringify({ plugin: [{ path: plugin, options: { greeting: 'hi' } }, 'demo'] }));
      const srv = await startCli(['serve', '--config', cfg, '--port', '0']);
      const c = await RpcClient.connect(srv.url);
      expect((await c.call('greeter.greet', ['ann'])).result).to.equal('hi, ann');
      expect((await c.call('greet', ['ann'])).error?.code).to.equal('METHOD_NOT_FOUND');
      expect((await c.call('add', [1, 2])).result).to.equal(3);
      c.close();
      srv.proc.kill('SIGTERM');
      await srv.exited;
    });

    it('refuses an unknown key, a bad value, bad JSON and a missing file', async () => {
      await refused(['serve', '--config', file('u.json', '{"max-inflite": 3}')], 'max-inflite');
      await refused(['serve', '--config', file('b.json', '{"max-inflight": "lots"}')], '--max-inflight');
      await refused(['serve', '--config', file('j.json', '{nope')], 'not valid JSON');
      await refused(['serve', '--config', file('a.json', '[1]')], 'JSON object');
      await refused(['serve', '--config', path.join(dir, 'missing.json')], 'cannot read');
      await refused(['serve', '--config', file('p.json', '{"plugin": [{"file": "x"}]}')], 'plugin');
    });
  });

  it('a plugin that throws in setup stops start-up with its name', async () => {
    const bad = file('bad.js', `module.exports = { name: 'exploder', setup() { throw new Error('kaboom'); } };`);
    await refused(['serve', '--port', '0', '--plugin', bad], /exploder.*kaboom/);
  });

  it('two plugins registering one top-level method name fail start-up naming both', async () => {
    const a = file('a.js', `module.exports = { name: 'alpha', setup(r) { r.method('same', () => 1, { topLevel: true }); } };`);
    const b = file('b.js', `module.exports = { name: 'beta', setup(r) { r.method('same', () => 2, { topLevel: true }); } };`);
    await refused(['serve', '--port', '0', '--plugin', a, '--plugin', b], /alpha.*beta/);
  });

  it('a port already in use is a one-line error, not a second listener (no SO_REUSEPORT sharing)', async () => {
    // A fixed port: sharing is only possible when both ask for the same one.
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const first = await startCli(['serve', '--port', String(port)]);
    expect(first.port).to.equal(port);
    await refused(['serve', '--port', String(port)], String(port));
    first.proc.kill('SIGTERM');
    await first.exited;
  });
});
