// end-timeout.md: after end(), how long does uWS keep a socket whose peer is not reading?
// Usage: node end-timeout.js [idleTimeout] [resumeAfterMs...]
'use strict';
const { spawn } = require('node:child_process');
if (process.argv[2] === 'child') {
  const { uws, WebSocket, port } = require('./uws');
  const idle = Number(process.argv[3]);
  const wait = Number(process.argv[4]);
  let buffered = 0;
  uws.App().ws('/*', {
    idleTimeout: idle, maxBackpressure: 0, sendPingsAutomatically: false,
    message: (ws) => setTimeout(() => ws.cork(() => {
      const big = Buffer.alloc(64 * 1024);
      for (let i = 0; i < 200; i++) ws.send(big, true);
      buffered = ws.getBufferedAmount();
      ws.end(1008, 'slow');
    }), 10),
  }).listen('127.0.0.1', 0, (t) => {
    const c = new WebSocket(`ws://127.0.0.1:${port(t)}`, { perMessageDeflate: false });
    let got = 0;
    c.on('message', () => got++);
    c.on('open', () => { c.send('go'); c.pause(); setTimeout(() => c.resume(), wait); });
    c.on('error', () => {});
    c.on('close', (code) => {
      console.log(`idleTimeout ${idle}: ${buffered} B left in uWS at end(1008); client reads again after ${wait} ms -> close ${code}, ${got}/200 messages`);
      process.exit(0);
    });
  });
} else {
  const idle = process.argv[2] ?? '0';
  const waits = process.argv.length > 3 ? process.argv.slice(3) : ['2000', '3000', '5000', '9000'];
  for (const w of waits) spawn(process.execPath, [__filename, 'child', idle, w], { stdio: 'inherit' });
}
