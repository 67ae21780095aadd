import { expect } from 'chai';
import { Packr } from 'msgpackr';
import type { Socket } from 'node:net';
import { decodeAny, encodeRequest, encodeNotification, encodeResult } from '../lib/protocol/codec';
import { COALESCE_MAX } from '../lib/reactor/connection';
import { httpGet, RpcClient, startReactor, type TestServer } from './helpers/client';

const raw = new Packr({ useRecords: false });

describe('MessagePack-RPC over WebSocket: framing and close codes', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startReactor({ maxPayload: 64 * 1024 });
  });
  after(() => srv.close());

  it('answers several requests in one frame, in one reply frame', async () => {
    const c = await RpcClient.connect(srv.url);
    const frame = Buffer.concat([encodeRequest(1, 'echo', ['a']), encodeRequest(2, 'add', [2, 3]), encodeNotification('echo', [1]), encodeRequest(3, 'echo', [[1, 2]])]);
    c.sendRaw(frame);
    const rs = await Promise.all([c.reply(1), c.reply(2), c.reply(3)]);
    expect(rs.map((r) => r.result)).to.deep.equal(['a', 5, [1, 2]]);
    expect(c.frames.length).to.equal(1);
    c.close();
  });

  /** Sends each buffer as its own WebSocket message, all in one socket write (so the server reads them in one go). */
  function sendFramesAtOnce(c: RpcClient, frames: Array<Uint8Array | string>): void {
    const sock = (c.ws as unknown as { _socket: Socket })._socket;
    sock.cork();
    for (const f of frames) c.sendRaw(f, typeof f !== 'string');
    sock.uncork();
  }

  it('answers requests of separate frames read in one turn in one reply frame', async () => {
    const c = await RpcClient.connect(srv.url);
    const ids = Array.from({ length: 12 }, (_, i) => 100 + i);
    sendFramesAtOnce(c, ids.map((id) => encodeRequest(id, 'echo', [`m${id}`])));
    const rs = await Promise.all(ids.map((id) => c.reply(id)));
    expect(rs.map((r) => r.result)).to.deep.equal(ids.map((id) => `m${id}`));
    expect(c.replies.map((r) => r.msgid), 'in request order').to.deep.equal(ids);
    expect(c.frames.length).to.equal(1);
    c.close();
  });

  it('keeps a merged reply frame under COALESCE_MAX; a larger answer goes alone', async () => {
    const big1 = await startReactor({ maxPayload: 4 * COALESCE_MAX });
    const c = await RpcClient.connect(big1.url);
    const big = 'b'.repeat(COALESCE_MAX + 100);
    const params = [...Array.from({ length: 30 }, () => 's'.repeat(4000)), big, 'small', big, 'x'.repeat(3000)];
    sendFramesAtOnce(c, params.map((p, i) => encodeRequest(200 + i, 'echo', [p])));
    const rs = await Promise.all(params.map((_, i) => c.reply(200 + i)));
    expect(rs.map((r) => r.result)).to.deep.equal(params);
    let answers = 0;
    let merged = 0;
    for (const f of c.frames) {
      const msgs = decodeAny(f) as Array<[number, number, unknown, unknown]>;
      answers += msgs.length;
      if (msgs.length > 1) {
        merged++;
        expect(f.length, 'a merged frame').to.be.at.most(COALESCE_MAX);
      }
      if (msgs.some((m) => m[3] === big)) expect(msgs.length, 'a frame holding an answer over COALESCE_MAX').to.equal(1);
    }
    expect(answers).to.equal(params.length);
    expect(merged, 'frames holding several answers').to.be.at.least(1);
    // 30 × ~4 KB packs into 2 frames under 64 KiB, the two big answers go alone, 'small' and the last may share:
    // however the reads fall, far fewer frames than answers.
    expect(c.frames.length).to.be.within(Math.ceil((30 * 4000) / COALESCE_MAX) + 2, 20);
    c.close();
    await big1.close();
  });

  it('sends the answers queued this turn before closing for bad input read after them', async () => {
    for (const [bad, code] of [
      ['not binary', 1003],
      [Buffer.from([0xc1]), 1007],
      [raw.pack({ a: 1 }), 1002],
    ] as const) {
      const c = await RpcClient.connect(srv.url);
      sendFramesAtOnce(c, [encodeRequest(1, 'echo', ['first']), encodeRequest(2, 'add', [1, 2]), bad]);
      const closed = await c.closed;
      expect(closed.code).to.equal(code);
      expect(c.replies.map((r) => [r.msgid, r.result])).to.deep.equal([
        [1, 'first'],
        [2, 3],
      ]);
    }
  });

  it('never drops answers silently when the client closes in the same read as its requests', async () => {
    // uWS answers a client's Close frame at once, inside the read that carried it: answers still
    // held for that read cannot go out after it. They must then be counted, never just vanish.
    const unsent = async (): Promise<number> => {
      const m = /^ringloop_unsent_bytes_total\{transport="ws"\} (\d+)$/m.exec((await httpGet(srv.port, '/metrics')).body);
      return Number(m![1]);
    };
    const before = await unsent();
    const c = await RpcClient.connect(srv.url);
    const reqs = [encodeRequest(301, 'echo', ['a']), encodeRequest(302, 'add', [1, 1])];
    const sock = (c.ws as unknown as { _socket: Socket })._socket;
    sock.cork();
    for (const r of reqs) c.sendRaw(r);
    c.ws.close(1000);
    sock.uncork();
    expect((await c.closed).code).to.equal(1000);
    const answerBytes = [encodeResult(301, 'a'), encodeResult(302, 2)].map((b) => b.length);
    const missing = answerBytes.filter((_, i) => !c.replies.some((r) => r.msgid === 301 + i)).reduce((a, b) => a + b, 0);
    expect((await unsent()) - before, 'bytes of the answers that did not arrive').to.equal(missing);
  });

  it('answers out of order: a fast request overtakes a slow one in the same frame', async () => {
    const c = await RpcClient.connect(srv.url);
    c.sendRaw(Buffer.concat([encodeRequest(10, 'sleep', [150]), encodeRequest(11, 'echo', ['fast'])]));
    await c.reply(10);
    expect(c.replies.map((r) => r.msgid)).to.deep.equal([11, 10]);
    c.close();
  });

  it('answers async completions of one turn in one frame', async () => {
    const c = await RpcClient.connect(srv.url);
    const ids = [20, 21, 22, 23, 24];
    c.sendRaw(Buffer.concat(ids.map((id) => encodeRequest(id, 'sleep', [50]))));
    await Promise.all(ids.map((id) => c.reply(id)));
    expect(c.frames.length).to.be.at.most(2);
    c.close();
  });

  it('a text message closes with 1003', async () => {
    const c = await RpcClient.connect(srv.url);
    c.sendRaw('hello', false);
    expect((await c.closed).code).to.equal(1003);
  });

  const close1007: Array<[string, Buffer]> = [
    ['not MessagePack (0xc1)', Buffer.from([0xc1])],
    ['truncated value', encodeRequest(1, 'echo', ['abcdef']).subarray(0, 8)],
    ['a frame ending inside its second message', Buffer.concat([encodeRequest(1, 'echo', [1]), Buffer.from([0x94, 0x00])])],
    ['an extension type', Buffer.from([0x94, 0x00, 0x01, 0xa4, 0x65, 0x63, 0x68, 0x6f, 0x91, 0xd4, 0x01, 0x00])],
    ['a msgpackr RegExp extension', Buffer.from([0xd5, 0x78, 0x00, 0x00])],
    ['nesting deeper than 64', Buffer.concat([Buffer.alloc(70, 0x91), Buffer.from([0x00])])],
  ];
  for (const [what, bytes] of close1007) {
    it(`${what} closes with 1007`, async () => {
      const c = await RpcClient.connect(srv.url);
      c.sendRaw(bytes);
      expect((await c.closed).code).to.equal(1007);
    });
  }

  const close1002: Array<[string, unknown]> = [
    ['a map', { a: 1 }],
    ['a string', 'hello'],
    ['a response message', [1, 1, null, 1]],
    ['an unknown message type', [3, 'x', []]],
    ['a msgid outside uint32', [0, 2 ** 32, 'echo', [1]]],
    ['a negative msgid', [0, -1, 'echo', [1]]],
    ['a malformed notification', [2, 'echo']],
    ['a notification with non-array params', [2, 'echo', 5]],
  ];
  for (const [what, value] of close1002) {
    it(`${what} closes with 1002`, async () => {
      const c = await RpcClient.connect(srv.url);
      c.sendRaw(raw.pack(value));
      expect((await c.closed).code).to.equal(1002);
    });
  }

  it('a request with a readable msgid but bad shape gets INVALID_REQUEST and the connection stays open', async () => {
    const c = await RpcClient.connect(srv.url);
    c.sendRaw(raw.pack([0, 7, 'echo']));
    c.sendRaw(raw.pack([0, 8, 42, []]));
    c.sendRaw(raw.pack([0, 9, 'echo', 'notarray']));
    for (const id of [7, 8, 9]) expect((await c.reply(id)).error?.code).to.equal('INVALID_REQUEST');
    expect((await c.call('echo', ['still here'])).result).to.equal('still here');
    c.close();
  });

  it('a message over --max-payload closes the connection; others keep being served', async () => {
    const other = await RpcClient.connect(srv.url);
    const c = await RpcClient.connect(srv.url);
    c.sendRaw(encodeRequest(1, 'echo', ['x'.repeat(70 * 1024)]));
    const { code } = await c.closed;
    expect(code).to.be.oneOf([1006, 1009]);
    expect((await other.call('echo', ['ok'])).result).to.equal('ok');
    other.close();
  });

  it('bad input on one connection never disturbs another', async () => {
    const good = await RpcClient.connect(srv.url);
    const bad = await RpcClient.connect(srv.url);
    bad.sendRaw(Buffer.from([0xc1, 0xc1]));
    await bad.closed;
    expect((await good.call('add', [1, 1])).result).to.equal(2);
    good.close();
  });

  it('a WebSocket may open on any path, /metrics included', async () => {
    const c = await RpcClient.connect(`${srv.url}/metrics`);
    expect((await c.call('echo', [1])).result).to.equal(1);
    c.close();
  });
});
