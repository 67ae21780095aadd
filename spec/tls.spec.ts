import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { UnpackrStream } from 'msgpackr';
import { encodeRequest } from '../lib/protocol/codec';
import { RpcClient, runCli, startReactor } from './helpers/client';

// A throwaway certificate made at test time (openssl from Debian); nothing secret is committed.
const dir = mkdtempSync(path.join(tmpdir(), 'ringloop-tls-'));
const cert = path.join(dir, 'cert.pem');
const key = path.join(dir, 'key.pem');
const encKey = path.join(dir, 'enc-key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
execFileSync('openssl', ['pkey', '-in', key, '-aes256', '-passout', 'pass:s3cret', '-out', encKey], { stdio: 'ignore' });
const ca = readFileSync(cert);

function httpsGet(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: p, ca, servername: 'localhost' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

describe('TLS', () => {
  it('serves wss:// and https:// with --tls-cert/--tls-key', async () => {
    const srv = await startReactor({ tlsCert: cert, tlsKey: key });
    const c = await RpcClient.connect(`wss://127.0.0.1:${srv.port}`, { ca });
    expect((await c.call('add', [2, 3])).result).to.equal(5);
    expect((await c.call('echo', [Buffer.from('secure')])).result).to.deep.equal(Buffer.from('secure'));
    expect((await httpsGet(srv.port, '/healthz')).body).to.equal('ok');
    c.close();
    // Plain ws:// to a TLS port does not get a WebSocket.
    let plainFailed = false;
    try {
      await RpcClient.connect(`ws://127.0.0.1:${srv.port}`);
    } catch {
      plainFailed = true;
    }
    expect(plainFailed).to.equal(true);
    await srv.close();
  });

  it('serves TLS on the TCP port, with an encrypted key and its passphrase', async () => {
    const srv = await startReactor({ tlsCert: cert, tlsKey: encKey, tlsPassphrase: 's3cret', tcpPort: 0 });
    const socket = tls.connect({ host: '127.0.0.1', port: srv.reactor.listenInfo!.tcpPort!, ca, servername: 'localhost' });
    const stream = new UnpackrStream({ useRecords: false } as never);
    socket.pipe(stream);
    const got = new Promise<unknown>((resolve) => stream.once('data', resolve));
    socket.write(encodeRequest(9, 'echo', ['over tls']));
    expect(await got).to.deep.equal([1, 9, null, 'over tls']);
    socket.end();
    await srv.close();
  });

  it('ringloop load drives wss:// and tls:// trusting a given CA with --ca', async function () {
    this.timeout(20000);
    const srv = await startReactor({ tlsCert: cert, tlsKey: key, tcpPort: 0 });
    for (const url of [`wss://127.0.0.1:${srv.port}`, `tls://127.0.0.1:${srv.reactor.listenInfo!.tcpPort}`]) {
      const r = await runCli(['load', '--url', url, '--ca', cert, '--duration', '0.5', '--connections', '2', '--json'], {}, 15000);
      expect(r.code, r.stderr).to.equal(0);
      const report = JSON.parse(r.stdout.trim()) as { responses: number; results: number };
      expect(report.results, url).to.be.above(100);
      expect(report.results).to.equal(report.responses);
      // Without the CA the self-signed certificate is refused: nothing connects.
      const refused = await runCli(['load', '--url', url, '--duration', '0.3', '--connections', '1', '--json'], {}, 15000);
      expect(refused.code, url).to.equal(1);
    }
    await srv.close();
  });

  it('refuses a wrong passphrase, a missing key file, and half a pair, naming the option', async () => {
    const bad = await runCli(['serve', '--port', '0', '--tls-cert', cert, '--tls-key', encKey, '--tls-passphrase', 'nope']);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr.trim()).to.match(/^ringloop: --tls-cert\/--tls-key: not a usable certificate/);
    const missing = await runCli(['serve', '--port', '0', '--tls-cert', cert, '--tls-key', path.join(dir, 'nope.pem')]);
    expect(missing.stderr.trim()).to.match(/^ringloop: --tls-key .*cannot read/);
    const half = await runCli(['serve', '--port', '0', '--tls-key', key]);
    expect(half.stderr.trim()).to.match(/--tls-cert and --tls-key must be given together/);
  });
});
