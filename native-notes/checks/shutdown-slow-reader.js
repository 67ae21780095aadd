// close-semantics.md: graceful shutdown while answered responses still sit in the server's buffers.
// Usage: node shutdown-slow-reader.js [--tcp] [requests] [client reads again N ms after close()]. Needs a build.
// --drain-timeout is 5 s and --max-backpressure 16 MiB here. --tcp uses the raw-TCP transport instead of WebSocket.
'use strict';
const path = require('node:path');
const dist = process.env.RINGLOOP_DIST ?? path.join(__dirname, '../../dist');
const { startReactor, RpcClient, delay } = require(path.join(dist, 'spec/helpers/client.js'));
const { TcpRpcClient } = require(path.join(dist, 'spec/helpers/tcp-client.js'));
const { encodeRequest } = require(path.join(dist, 'lib/protocol/codec.js'));
const args = process.argv.slice(2);
const tcp = args[0] === '--tcp' && args.shift() !== undefined;
(async () => {
  const n = Number(args[0] ?? 50);
  const wait = Number(args[1] ?? 100);
  // A --max-backpressure above what is sent: no 1008 (WebSocket) and no read pause (TCP) before close().
  const srv = await startReactor({ drainTimeout: 5, maxBackpressure: 16 * 1024 * 1024, ...(tcp ? { tcpPort: 0 } : {}) });
  let c;
  let closed;
  let pause;
  let resume;
  if (tcp) {
    c = await TcpRpcClient.connect(srv.reactor.listenInfo.tcpPort);
    process.on('uncaughtException', (e) => console.log(`  client: ${e.message} (stream cut inside a message)`));
    closed = c.closed.then(() => ({ code: 'socket closed' }));
    pause = () => c.socket.pause();
    resume = () => c.socket.resume();
  } else {
    c = await RpcClient.connect(srv.url, { perMessageDeflate: false });
    closed = c.closed;
    pause = () => c.ws.pause();
    resume = () => c.ws.resume();
  }
  pause();
  const payload = 'x'.repeat(100 * 1024);
  for (let i = 0; i < n; i++) {
    const req = encodeRequest(1 + i, 'echo', [payload]);
    if (tcp) c.socket.write(req);
    else c.sendRaw(req);
  }
  await delay(300); // every request answered; what the kernel did not take waits in the server
  const buffered = [...srv.reactor['conns']].map((x) => x.bufferedAmount());
  const t0 = Date.now();
  let took = null;
  const closing = srv.close().then(() => (took = Date.now() - t0));
  await delay(wait);
  resume();
  const r = await Promise.race([closed, delay(8000).then(() => ({ code: 'nothing' }))]);
  await closing;
  await delay(50);
  console.log(`${tcp ? 'TCP' : 'WebSocket'}: ${n} answered requests, ${buffered.join(',') || '?'} B buffered at close(); client reads again after ${wait} ms: close ${r.code}, ${c.replies.length}/${n} responses delivered; close() took ${took} ms`);
  process.exit(0);
})();
