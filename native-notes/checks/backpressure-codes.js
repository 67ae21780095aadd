// backpressure.md: send() return codes, the dropped close frame (the 1008 trap),
// and what a corked small send returns when its bytes end up buffered.
'use strict';
const { spawn } = require('node:child_process');
const mode = process.argv[2];
if (mode === 'limit') {
  const { uws, WebSocket, port } = require('./uws');
  const limit = Number(process.argv[3]);
  uws.App().ws('/*', {
    idleTimeout: 0, maxBackpressure: limit, closeOnBackpressureLimit: false,
    open: (ws) => setTimeout(() => ws.cork(() => {
      const big = Buffer.alloc(64 * 1024);
      const seen = {};
      for (let i = 0; i < 200; i++) { const r = ws.send(big, true); seen[r] = (seen[r] || 0) + 1; }
      const buffered = ws.getBufferedAmount();
      ws.end(1008, 'too slow');
      console.log(`maxBackpressure ${limit}: send() results ${JSON.stringify(seen)} (1 sent, 0 backpressure, 2 dropped), ${buffered} B buffered`);
    }), 50),
  }).listen('127.0.0.1', 0, (t) => {
    const c = new WebSocket(`ws://127.0.0.1:${port(t)}`, { perMessageDeflate: false });
    let got = 0;
    c.on('message', () => got++);
    c.on('error', () => {});
    c.on('close', (code) => { console.log(`  reading client got close ${code} after ${got} messages`); process.exit(0); });
  });
} else if (mode === 'cork') {
  const { uws, WebSocket, port } = require('./uws');
  uws.App().ws('/*', {
    idleTimeout: 0, maxBackpressure: 0,
    open: (ws) => setTimeout(() => {
      const m = Buffer.alloc(8 * 1024);
      for (let i = 0; i < 5000; i++) {
        let s;
        const before = ws.getBufferedAmount();
        ws.cork(() => { s = ws.send(m, true); });
        const after = ws.getBufferedAmount();
        if (before === 0 && after > 0) console.log(`corked 8 KiB send #${i} returned ${s}, yet ${after} B are buffered after uncork`);
        if (before > 0) { console.log(`the next send returned ${s}`); break; }
      }
      process.exit(0);
    }, 100),
  }).listen('127.0.0.1', 0, (t) => {
    const c = new WebSocket(`ws://127.0.0.1:${port(t)}`);
    c.on('open', () => c.pause());
    c.on('error', () => {});
  });
} else {
  const run = (args) => new Promise((r) => spawn(process.execPath, [__filename, ...args], { stdio: 'inherit' }).on('exit', r));
  (async () => {
    await run(['limit', '65536']);
    await run(['limit', '0']);
    await run(['cork']);
  })();
}
