/** ringloop/client over TLS (wss://, tls://) and with a token (Node header; browsers use ?token=, see client-browser). */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, RingloopError } from '../lib/client';
import { startReactor } from './helpers/client';

// A throwaway certificate made at test time (openssl from Debian); nothing secret is committed.
const dir = mkdtempSync(path.join(tmpdir(), 'ringloop-client-tls-'));
const cert = path.join(dir, 'cert.pem');
const key = path.join(dir, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
const ca = readFileSync(cert);

describe('client over TLS and with a token', () => {
  it('calls over wss:// and tls:// trusting a given CA, and refuses an unknown certificate', async () => {
    const srv = await startReactor({ tlsCert: cert, tlsKey: key, tcpPort: 0 });
    const tcpPort = srv.reactor.listenInfo!.tcpPort!;
    const ws = connect(`wss://127.0.0.1:${srv.port}`, { tls: { ca } });
    const tcp = connect(`tls://localhost:${tcpPort}`, { tls: { ca } });
    const untrusted = connect(`wss://127.0.0.1:${srv.port}`, { reconnect: false });
    try {
      expect(await Promise.all([ws.call('add', [1, 2]), tcp.call('add', [3, 4])])).to.deep.equal([3, 7]);
      const e = (await untrusted.call('echo', [1]).catch((x: unknown) => x)) as RingloopError;
      expect(e.code).to.equal('RECONNECT_FAILED');
      expect(e.message).to.match(/self.signed|certificate/i);
    } finally {
      await Promise.all([ws.close(), tcp.close(), untrusted.close()]);
      await srv.close();
    }
  });

  it('sends the token as Authorization: Bearer; without it the HTTP 401 is named in the error', async () => {
    const tokens = path.join(dir, 'tokens');
    writeFileSync(tokens, 'good-token\n');
    const srv = await startReactor({ authTokenFile: tokens });
    const ok = connect(srv.url, { token: 'good-token' });
    const bad = connect(srv.url, { token: 'wrong', reconnect: false });
    try {
      expect(await ok.call('echo', ['in'])).to.equal('in');
      const e = (await bad.call('echo', [1]).catch((x: unknown) => x)) as RingloopError;
      expect(e.code).to.equal('RECONNECT_FAILED');
      expect(e.message).to.include('HTTP 401');
    } finally {
      await Promise.all([ok.close(), bad.close()]);
      await srv.close();
    }
  });
});
