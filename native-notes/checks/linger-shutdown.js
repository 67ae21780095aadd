// close-semantics.md: a socket already closed with 1008, still lingering because its client never
// reads, holds graceful shutdown until --drain-timeout. Needs a build (npm run build).
// Usage: node linger-shutdown.js [drain-timeout seconds, default 3]
'use strict';
const path = require('node:path');
const dist = process.env.RINGLOOP_DIST ?? path.join(__dirname, '../../dist');
const { startReactor, RpcClient, delay } = require(path.join(dist, 'spec/helpers/client.js'));
const { encodeRequest } = require(path.join(dist, 'lib/protocol/codec.js'));
(async () => {
  const drain = Number(process.argv[2] ?? 3);
  const srv = await startReactor({ maxBackpressure: 256 * 1024, drainTimeout: drain });
  const c = await RpcClient.connect(srv.url, { perMessageDeflate: false });
  c.ws.pause();
  for (let i = 0; i < 100; i++) c.sendRaw(encodeRequest(i, 'echo', ['x'.repeat(128 * 1024)]));
  await delay(500);
  const open = srv.reactor.connectionCount;
  const lingering = srv.reactor['transports'][0].lingering();
  const t0 = Date.now();
  await srv.close();
  const took = Date.now() - t0;
  c.ws.resume();
  const r = await c.closed;
  console.log(`--drain-timeout ${drain}: ${open} open, ${lingering} lingering at close(); close() took ${took} ms; the client, reading afterwards, got ${r.code}`);
  process.exit(0);
})();
