// close-semantics.md: graceful shutdown while answered responses still sit in uWS's buffer.
// Usage: node shutdown-slow-reader.js [requests] [client reads again N ms after close()]. Needs a build.
'use strict';
const path = require('node:path');
const dist = process.env.RINGLOOP_DIST ?? path.join(__dirname, '../../dist');
const { startReactor, RpcClient, delay } = require(path.join(dist, 'spec/helpers/client.js'));
const { encodeRequest } = require(path.join(dist, 'lib/protocol/codec.js'));
(async () => {
  const n = Number(process.argv[2] ?? 50);
  const wait = Number(process.argv[3] ?? 100);
  const srv = await startReactor({ drainTimeout: 5 }); // default --max-backpressure 1 MiB
  const c = await RpcClient.connect(srv.url, { perMessageDeflate: false });
  c.ws.pause();
  const payload = 'x'.repeat(100 * 1024);
  for (let i = 0; i < n; i++) c.sendRaw(encodeRequest(1 + i, 'echo', [payload]));
  await delay(300); // every request answered; what the kernel did not take waits in uWS
  const buffered = [...srv.reactor['conns']].map((x) => x.bufferedAmount());
  const closing = srv.reactor.close();
  await delay(wait);
  c.ws.resume();
  const r = await Promise.race([c.closed, delay(8000).then(() => ({ code: 'nothing' }))]);
  await closing;
  console.log(`${n} answered requests, ${buffered.join(',') || 'connection already closed:'} B in uWS at close(); client reads again after ${wait} ms: close ${r.code}, ${c.replies.length}/${n} responses delivered`);
  process.exit(0);
})();
