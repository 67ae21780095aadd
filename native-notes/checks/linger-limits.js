// backpressure.md: a socket closed with 1008 but still flushing ("lingering") no longer counts
// against --max-connections, yet keeps its buffered answers in uWS until it drains or its
// linger deadline (--idle-timeout, or 60 s) passes. Needs a build (npm run build).
// Usage: node linger-limits.js [clients]
'use strict';
const path = require('node:path');
const dist = process.env.RINGLOOP_DIST ?? path.join(__dirname, '../../dist');
const { startReactor, RpcClient, delay } = require(path.join(dist, 'spec/helpers/client.js'));
const { encodeRequest } = require(path.join(dist, 'lib/protocol/codec.js'));
(async () => {
  const n = Number(process.argv[2] ?? 5);
  const srv = await startReactor({ maxConnections: 1, maxBackpressure: 256 * 1024 });
  const ws = srv.reactor['transports'][0];
  const payload = 'x'.repeat(128 * 1024);
  const clients = [];
  let admitted = 0;
  for (let k = 0; k < n; k++) {
    let c;
    try {
      c = await RpcClient.connect(srv.url, { perMessageDeflate: false });
    } catch (e) {
      console.log(`client ${k + 1}: refused (${e.message})`);
      continue;
    }
    admitted++;
    clients.push(c);
    c.ws.pause(); // never reads
    for (let i = 0; i < 100; i++) c.sendRaw(encodeRequest(i, 'echo', [payload]));
    await delay(300); // answered, over the bound: closed 1008 for the reactor, still flushing in uWS
  }
  const rss = (process.memoryUsage().rss / 1048576).toFixed(0);
  console.log(`--max-connections 1: ${admitted}/${n} non-reading clients admitted one after another; reactor counts ${srv.reactor.connectionCount} open, uWS holds ${ws.lingering()} sockets; process RSS ${rss} MiB`);
  for (const c of clients) c.ws.terminate();
  await srv.close();
  process.exit(0);
})();
