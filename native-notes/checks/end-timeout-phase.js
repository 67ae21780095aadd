// end-timeout.md: in one long-running server the grace after end() depends on where the 4-s sweep is.
// Usage: node end-timeout-phase.js WAIT_MS (the client reads again WAIT_MS after end()).
'use strict';
// One long-running server: end(1008) at different moments; the client reads again WAIT ms later.
const { uws, WebSocket, port } = require('./uws');
const wait = Number(process.argv[2]);
const t0 = Date.now();
let p;
uws.App().ws('/*', { idleTimeout: 0, maxBackpressure: 0, sendPingsAutomatically: false,
  message: (ws) => setTimeout(() => ws.cork(() => { const big = Buffer.alloc(64 * 1024); for (let i = 0; i < 200; i++) ws.send(big, true); ws.end(1008, 'slow'); }), 10),
}).listen('127.0.0.1', 0, async (t) => {
  p = port(t);
  const res = [];
  for (let k = 0; k < 10; k++) {
    await new Promise((r) => setTimeout(r, 700)); // shift the phase by 0.7 s each time
    const at = Date.now() - t0;
    const code = await new Promise((r) => {
      const c = new WebSocket(`ws://127.0.0.1:${p}`, { perMessageDeflate: false });
      c.on('open', () => { c.send('go'); c.pause(); setTimeout(() => c.resume(), wait); });
      c.on('error', () => {}); c.on('close', (code) => r(code));
    });
    res.push(`${at}ms:${code}`);
  }
  console.log(`wait ${wait}: ${res.join(' ')}`); process.exit(0);
});
