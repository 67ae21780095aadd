import { expect } from 'chai';
import { encodeRequest } from '../lib/protocol/codec';
import { delay, RpcClient, startReactor, type TestServer } from './helpers/client';
import { TcpRpcClient } from './helpers/tcp-client';

describe('raw TCP transport', () => {
  let srv: TestServer;
  let tcpPort: number;
  before(async () => {
    srv = await startReactor({ tcpPort: 0, maxPayload: 512 * 1024 });
    tcpPort = (srv.reactor.listenInfo?.tcpPort)!;
  });
  after(() => srv.close());

  it('serves the same methods and errors as WebSocket', async () => {
    const c = await TcpRpcClient.connect(tcpPort);
    expect((await c.call('echo', [{ a: [1, 'x', null] }])).result).to.deep.equal({ a: [1, 'x', null] });
    expect((await c.call('add', [2, 40])).result).to.equal(42);
    expect((await c.call('fail', ['nope'])).error).to.deep.equal({ code: 'HANDLER_ERROR', message: 'nope' });
    expect((await c.call('__proto__', [])).error?.code).to.equal('METHOD_NOT_FOUND');
    expect((await c.call('add', ['a', 1])).error?.code).to.equal('INVALID_PARAMS');
    c.close();
  });

  it('decodes a message written one byte at a time', async () => {
    const c = await TcpRpcClient.connect(tcpPort);
    const bytes = encodeRequest(77, 'echo', [{ nested: [1, 2, { deep: 'value' }], s: 'héllo' }]);
    for (let i = 0; i < bytes.length; i++) {
      await c.write(bytes.subarray(i, i + 1));
      if (i % 8 === 0) await delay(1);
    }
    expect((await c.reply(77)).result).to.deep.equal({ nested: [1, 2, { deep: 'value' }], s: 'héllo' });
    c.close();
  });

  it('decodes a 300 KB string sent in 7 KB pieces, and a header split in the middle', async () => {
    const c = await TcpRpcClient.connect(tcpPort);
    const big = 'z'.repeat(300 * 1024);
    const bytes = encodeRequest(78, 'echo', [big]);
    for (let i = 0; i < bytes.length; i += 7 * 1024) {
      await c.write(bytes.subarray(i, i + 7 * 1024));
      await delay(1);
    }
    expect((await c.reply(78)).result).to.equal(big);
    // str32 header split after 2 of its 5 bytes, together with the end of the previous message
    const two = Buffer.concat([encodeRequest(79, 'echo', [1]), encodeRequest(80, 'echo', ['y'.repeat(70000)])]);
    const cut = two.indexOf(0xdb) + 2;
    await c.write(two.subarray(0, cut));
    expect((await c.reply(79)).result).to.equal(1);
    await delay(20);
    await c.write(two.subarray(cut));
    expect((await c.reply(80)).result).to.have.length(70000);
    c.close();
  });

  it('coalesces the answers of one read into one write', async () => {
    const c = await TcpRpcClient.connect(tcpPort);
    await c.call('echo', [0]);
    const writes = (): number => Number(/^ringloop_writes_total\{transport="tcp"\} (\d+)$/m.exec(srv.reactor.metrics.render())?.[1]);
    const before = writes();
    await c.write(Buffer.concat(Array.from({ length: 16 }, (_, i) => encodeRequest(200 + i, 'echo', [i]))));
    for (let i = 0; i < 16; i++) expect((await c.reply(200 + i)).result).to.equal(i);
    expect(writes() - before).to.equal(1);
    c.close();
  });

  it('closes on invalid bytes, on an incomplete message over --max-payload, and on a complete one over it', async () => {
    const bad = await TcpRpcClient.connect(tcpPort);
    await bad.write(Buffer.from([0xc1]));
    await bad.closed;
    const huge = await TcpRpcClient.connect(tcpPort);
    const bytes = encodeRequest(1, 'echo', ['q'.repeat(600 * 1024)]);
    await huge.write(bytes.subarray(0, 520 * 1024)); // still incomplete, already too big
    await huge.closed;
    const whole = await TcpRpcClient.connect(tcpPort);
    void whole.write(bytes);
    await whole.closed;
    expect(whole.replies).to.have.length(0);
    const good = await TcpRpcClient.connect(tcpPort);
    expect((await good.call('echo', ['alive'])).result).to.equal('alive');
    good.close();
  });

  it('answers INVALID_REQUEST when the msgid is readable, and closes on malformed messages', async () => {
    const c = await TcpRpcClient.connect(tcpPort);
    await c.write(Buffer.from([0x93, 0x00, 0x05, 0xa1, 0x78])); // [0, 5, "x"]
    expect((await c.reply(5)).error?.code).to.equal('INVALID_REQUEST');
    await c.write(Buffer.from([0x81, 0xa1, 0x61, 0x01])); // {a: 1}
    await c.closed;
  });

  it('stops reading from a client that does not read, instead of buffering without bound', async function () {
    this.timeout(20000);
    const small = await startReactor({ tcpPort: 0, maxBackpressure: 64 * 1024, maxInflight: 4096 });
    const port = small.reactor.listenInfo!.tcpPort!;
    const c = await TcpRpcClient.connect(port);
    c.socket.pause();
    const payload = 'p'.repeat(16 * 1024);
    const n = 2000; // 32 MB of answers
    const frame = Buffer.concat(Array.from({ length: 100 }, (_, i) => encodeRequest(i, 'echo', [payload])));
    let written = 0;
    for (let k = 0; k < n / 100; k++) {
      c.socket.write(frame);
      written += 100;
    }
    await delay(1000);
    const m = small.reactor.metrics.render();
    const sent = Number(/^ringloop_bytes_sent_total\{transport="tcp"\} (\d+)$/m.exec(m)?.[1]);
    // The server stopped reading: far less than 32 MB was produced while the client was not reading.
    expect(sent).to.be.below(24 * 1024 * 1024);
    c.socket.resume();
    // Once the client reads again, everything is answered and the connection is still open.
    const last = await c.reply(99);
    expect(last.result).to.equal(payload);
    for (let i = 0; i < 200 && c.replies.length < written; i++) await delay(50);
    expect(c.replies.length).to.equal(written);
    c.close();
    await small.close();
  });

  it('closes a silent TCP connection after --idle-timeout; traffic keeps it open', async () => {
    const s = await startReactor({ tcpPort: 0, idleTimeout: 0.6 });
    const port = s.reactor.listenInfo!.tcpPort!;
    const silent = await TcpRpcClient.connect(port);
    const chatty = await TcpRpcClient.connect(port);
    const t0 = Date.now();
    const timer = setInterval(() => void chatty.call('echo', [1]), 100);
    await silent.closed;
    expect(Date.now() - t0).to.be.within(400, 2500);
    await delay(400);
    clearInterval(timer);
    expect(chatty.socket.destroyed).to.equal(false);
    expect((await chatty.call('echo', ['alive'])).result).to.equal('alive');
    chatty.close();
    await s.close();
  });

  it('shares in-flight limits, metrics and graceful shutdown with WebSocket', async () => {
    const s = await startReactor({ tcpPort: 0, maxInflight: 2 });
    const c = await TcpRpcClient.connect(s.reactor.listenInfo!.tcpPort!);
    const w = await RpcClient.connect(s.url);
    await c.write(Buffer.concat([900, 901, 902].map((id) => encodeRequest(id, 'sleep', [200]))));
    expect((await c.reply(902)).error?.code).to.equal('OVERLOADED');
    const m = s.reactor.metrics.render();
    expect(m).to.match(/^ringloop_connections\{transport="tcp"\} 1$/m);
    expect(m).to.match(/^ringloop_connections\{transport="ws"\} 1$/m);
    const closing = s.close();
    expect((await c.reply(900)).result).to.equal(200);
    expect((await c.reply(901)).result).to.equal(200);
    await closing;
    await c.closed;
    expect((await w.closed).code).to.equal(1001);
  });
});
