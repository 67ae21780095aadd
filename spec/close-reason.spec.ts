/**
 * What a client receives when a plugin closes its connection with
 * `ctx.conn.close(code, reason)`: uWS cuts reasons at byte 123 (possibly inside
 * a character) and passes invalid codes through, and a standard client then
 * sees 1006 or 1005 instead (native-notes/close-semantics.md). ringloop sends
 * a reason cut on a character boundary and maps codes a server may not send to 1011.
 */
import { expect } from 'chai';
import { encodeRequest } from '../lib/protocol/codec';
import { RpcClient, startReactor, type TestServer } from './helpers/client';

interface Received {
  code: number;
  reason: Buffer;
}

/** Connects, asks the server to close this connection with (code, reason), and returns the raw close frame as the client saw it. */
async function closedWith(srv: TestServer, method: string, code: number, reason: string): Promise<Received> {
  const c = await RpcClient.connect(srv.url, { perMessageDeflate: false });
  const got = new Promise<Received>((resolve) => c.ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason })));
  c.sendRaw(encodeRequest(1, method, [code, reason]));
  return got;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

describe('close codes and reasons a plugin passes to conn.close()', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startReactor({}, (r) => {
      // Closes while uWS is handling the message (already corked)...
      r.method('closeNow', ([code, reason], ctx) => ctx.conn.close(code as number, reason as string));
      // ...and later, from a timer (outside any uWS callback).
      r.method('closeLater', ([code, reason], ctx) => {
        setTimeout(() => ctx.conn.close(code as number, reason as string), 5);
        return new Promise(() => undefined);
      });
    });
  });
  after(() => srv.close());

  it('a long non-ASCII reason arrives as valid UTF-8, cut to at most 123 bytes on a character boundary, code intact', async () => {
    const cases: Array<[string, number, string, string]> = [
      // method, code, reason sent, reason expected
      ['closeNow', 4001, 'é'.repeat(100), 'é'.repeat(61)], // 200 bytes -> 122 (byte 123 would split an é)
      ['closeLater', 4002, 'é'.repeat(100), 'é'.repeat(61)],
      ['closeNow', 1000, 'a' + '😀'.repeat(40), 'a' + '😀'.repeat(30)], // 4-byte characters: 161 bytes -> 121
      ['closeNow', 4003, '€'.repeat(50), '€'.repeat(41)], // 3-byte characters: 150 -> 123 exactly
      ['closeNow', 1008, 'x'.repeat(200), 'x'.repeat(123)],
      ['closeNow', 4004, 'x'.repeat(123), 'x'.repeat(123)], // at the limit: unchanged
    ];
    const got = await Promise.all(cases.map(([m, code, reason]) => closedWith(srv, m, code, reason)));
    got.forEach(({ code, reason }, i) => {
      const [m, sentCode, sent, expected] = cases[i];
      const what = `${m}(${sentCode}, ${Buffer.byteLength(sent)}-byte reason)`;
      expect(code, what).to.equal(sentCode);
      expect(reason.length, what).to.be.at.most(123);
      expect(strictUtf8.decode(reason), what).to.equal(expected);
    });
  });

  it('codes a close frame may not carry (1005, 1006, 1015, 5000 and others) arrive as 1011, reason kept', async () => {
    const bad = [1005, 1006, 1015, 5000, 1004, 999, 2999, 0, 65535];
    const got = await Promise.all(bad.map((code, i) => closedWith(srv, i % 2 === 0 ? 'closeNow' : 'closeLater', code, `bad ${code}`)));
    got.forEach(({ code, reason }, i) => {
      expect(code, `close(${bad[i]})`).to.equal(1011);
      expect(reason.toString(), `close(${bad[i]})`).to.equal(`bad ${bad[i]}`);
    });
  });

  it('valid codes, application ones such as 4000 included, arrive unchanged', async () => {
    const good = [4000, 4999, 3000, 1000, 1001, 1003, 1007, 1008, 1011, 1013];
    const got = await Promise.all(good.map((code, i) => closedWith(srv, i % 2 === 0 ? 'closeNow' : 'closeLater', code, `code ${code}`)));
    got.forEach(({ code, reason }, i) => {
      expect(code, `close(${good[i]})`).to.equal(good[i]);
      expect(reason.toString(), `close(${good[i]})`).to.equal(`code ${good[i]}`);
    });
  });
});
