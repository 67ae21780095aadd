import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startReactor, type TestServer } from './helpers/client';

// Real MessagePack-RPC peers (Debian packages neovim, python3-msgpack, python3-websockets; npm msgpack-rpc-lite).
const FIXTURES = path.resolve(__dirname, '../../spec/fixtures');
const PYTHON = '/usr/bin/python3';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 15000, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

describe('interoperability with real MessagePack-RPC clients', () => {
  let srv: TestServer;
  let tcpPort: number;
  before(async () => {
    srv = await startReactor({ tcpPort: 0 });
    tcpPort = srv.reactor.listenInfo!.tcpPort!;
  });
  after(() => srv.close());

  it('Python msgpack streaming Unpacker over TCP', async () => {
    const out = JSON.parse(await run(PYTHON, [path.join(FIXTURES, 'py_tcp_client.py'), String(tcpPort)])) as Record<string, [unknown, unknown]>;
    expect(out['1']).to.deep.equal([null, 3]);
    expect(out['2']).to.deep.equal([null, 'héllo']);
    expect(out['3']).to.deep.equal([null, { hex: '0001ff' }]);
    expect(out['4']).to.deep.equal([{ code: 'HANDLER_ERROR', message: 'boom' }, null]);
    expect((out['5'][0] as { code: string }).code).to.equal('METHOD_NOT_FOUND');
    expect(out['6']).to.deep.equal([null, { k: [1, 2.5, null, true] }]);
    expect(out['7'][1]).to.match(/^[0-9a-f]{64}$/);
    expect(out['8']).to.deep.equal([null, { len: 100000 }]);
    expect(Object.keys(out)).to.have.length(8);
  });

  it('Python websockets over WebSocket, including the 1003 close for text', async () => {
    const out = JSON.parse(await run(PYTHON, [path.join(FIXTURES, 'py_ws_client.py'), srv.url])) as Record<string, unknown>;
    expect(out['1']).to.deep.equal([null, 42]);
    expect(out['2']).to.deep.equal([null, [1, 'two', null]]);
    expect(out['3']).to.deep.equal([null, 20]);
    expect(out['4']).to.deep.equal([{ code: 'HANDLER_ERROR', message: 'py boom' }, null]);
    expect(out.close).to.equal(1003);
  });

  it('Neovim rpcrequest/rpcnotify over TCP; errors reach it as "unknown error" (maps, per the contract)', async () => {
    const outFile = path.join(mkdtempSync(path.join(tmpdir(), 'ringloop-nvim-')), 'out.json');
    await run('nvim', ['--headless', '-u', 'NONE', '-i', 'NONE', '-n', '-S', path.join(FIXTURES, 'nvim_client.vim')], {
      RINGLOOP_TCP_PORT: String(tcpPort),
      RINGLOOP_OUT: outFile,
    });
    const r = JSON.parse(readFileSync(outFile, 'utf8')) as Record<string, unknown>;
    expect(r.add).to.equal(3);
    expect(r.echo).to.equal('hé');
    expect(r.list).to.deep.equal([1, 'a', { k: true }]);
    expect(r.sha).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(r.fail).to.match(/Error invoking 'fail'/);
  });

  it('npm msgpack-rpc-lite client over TCP', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const rpc = require('msgpack-rpc-lite') as {
      createClient(port: number, host: string): { request(m: string, ...a: unknown[]): Promise<unknown[]>; close?: () => void };
    };
    const client = rpc.createClient(tcpPort, '127.0.0.1');
    const [sum] = await client.request('add', 20, 22);
    expect(sum).to.equal(42);
    const [echoed] = await client.request('echo', { nested: ['x', 1] });
    expect(echoed).to.deep.equal({ nested: ['x', 1] });
    let err: unknown = null;
    try {
      await client.request('fail', 'lite boom');
    } catch (e) {
      err = e;
    }
    expect(err).to.deep.equal({ code: 'HANDLER_ERROR', message: 'lite boom' });
    client.close?.();
  });
});
