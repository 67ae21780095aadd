import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { encodeRequest } from '../lib/protocol/codec';
import { delay, RpcClient, startCli } from './helpers/client';

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) * 1024;
}

describe('a client that stops reading', () => {
  it('is closed with a 1008 frame it receives once it reads again; server memory stays bounded', async function () {
    this.timeout(40000);
    const srv = await startCli(['serve', '--port', '0', '--max-backpressure', '262144', '--log-level', 'warn']);
    try {
      const other = await RpcClient.connect(srv.url);
      const c = await RpcClient.connect(srv.url, { perMessageDeflate: false });
      const rss0 = rssOf(srv.logs.find((l) => l.msg === 'reactor listening')!.pid as number);
      c.ws.pause(); // stop reading: the kernel buffers fill, then the server's
      const payload = 'x'.repeat(128 * 1024);
      const n = 400; // ~51 MB of answers, far beyond socket buffers + the 256 KiB bound
      for (let i = 0; i < n; i++) c.sendRaw(encodeRequest(1000 + i, 'echo', [payload]));
      // Longer than uWS's 4 s timeout sweep, which kills an ended socket with its buffer (native-notes/end-timeout.md).
      await delay(4500);
      const grew = rssOf(srv.logs.find((l) => l.msg === 'reactor listening')!.pid as number) - rss0;
      expect(grew, `server RSS grew by ${grew} bytes`).to.be.below(24 * 1024 * 1024);
      // Other clients are still served meanwhile.
      expect((await other.call('echo', ['fine'])).result).to.equal('fine');
      c.ws.resume();
      const closed = await c.closed;
      expect(closed.code).to.equal(1008);
      expect(c.replies.length).to.be.above(0).and.below(n);
      for (const r of c.replies) expect(r.result).to.equal(payload);
      other.close();
    } finally {
      srv.proc.kill('SIGTERM');
      await srv.exited;
    }
  });
});
