// backpressure.md / end-timeout.md: ringloop's 1008 for a client that stops reading,
// when that client reads again after N ms. Needs a build (npm run build).
// Usage: node late-reader.js [--idle SECONDS] [ms…]
// --idle sets --idle-timeout (default 120), which is also how long a closed socket may linger to flush.
'use strict';
const path = require('node:path');
const dist = process.env.RINGLOOP_DIST ?? path.join(__dirname, '../../dist');
const { startReactor, RpcClient, delay } = require(path.join(dist, 'spec/helpers/client.js'));
const { encodeRequest } = require(path.join(dist, 'lib/protocol/codec.js'));
const args = process.argv.slice(2);
const at = args.indexOf('--idle');
const idle = at >= 0 ? Number(args.splice(at, 2)[1]) : 120;
(async () => {
  for (const wait of (args.length > 0 ? args : ['1500', '3000', '6000']).map(Number)) {
    const srv = await startReactor({ maxBackpressure: 256 * 1024, idleTimeout: idle });
    const c = await RpcClient.connect(srv.url, { perMessageDeflate: false });
    c.ws.pause();
    const payload = 'x'.repeat(128 * 1024);
    for (let i = 0; i < 400; i++) c.sendRaw(encodeRequest(1000 + i, 'echo', [payload]));
    await delay(wait);
    c.ws.resume();
    const r = await Promise.race([c.closed, delay(15000).then(() => ({ code: 'nothing within 15 s' }))]);
    console.log(`--max-backpressure 256 KiB, --idle-timeout ${idle}, client reads again after ${wait} ms: close ${r.code}, ${c.replies.length} replies`);
    await srv.close();
  }
  process.exit(0);
})();
