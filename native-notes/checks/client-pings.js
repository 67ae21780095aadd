// idle-timeout.md: a client that only sends its own pings (and ignores ringloop's) counts as alive;
// a silent one is closed. Needs a build (npm run build).
'use strict';
const path = require('node:path');
const dist = process.env.RINGLOOP_DIST ?? path.join(__dirname, '../../dist');
const { startReactor, RpcClient, delay } = require(path.join(dist, 'spec/helpers/client.js'));
(async () => {
  const srv = await startReactor({ idleTimeout: 0.6 });
  const pinger = await RpcClient.connect(srv.url, { autoPong: false });
  const silent = await RpcClient.connect(srv.url, { autoPong: false });
  let silentCode = 'still open';
  void silent.closed.then((c) => (silentCode = c.code));
  const t = setInterval(() => pinger.ws.ping(), 200);
  await delay(2000);
  clearInterval(t);
  console.log(`--idle-timeout 0.6, after 2 s: client that pings every 200 ms (no pongs) open: ${pinger.ws.readyState === pinger.ws.OPEN}; silent client: close ${silentCode}`);
  await srv.close();
  process.exit(0);
})();
