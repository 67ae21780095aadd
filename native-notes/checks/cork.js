// cork.md: 100k small sends from a timer, uncorked vs one cork vs a cork per send.
'use strict';
const { uws, WebSocket, port } = require('./uws');
const msg = Buffer.alloc(16);
const ms = (t) => (Number(process.hrtime.bigint() - t) / 1e6).toFixed(0);
uws.App().ws('/*', {
  idleTimeout: 0, maxBackpressure: 0,
  open: (ws) => setTimeout(() => {
    let t = process.hrtime.bigint();
    for (let i = 0; i < 100000; i++) ws.send(msg, true);
    const uncorked = ms(t);
    setTimeout(() => {
      t = process.hrtime.bigint();
      ws.cork(() => { for (let i = 0; i < 100000; i++) ws.send(msg, true); });
      const one = ms(t);
      t = process.hrtime.bigint();
      for (let i = 0; i < 100000; i++) ws.cork(() => ws.send(msg, true));
      console.log(`100k 16-byte sends from a timer: uncorked ${uncorked} ms, one cork around all ${one} ms, a cork per send ${ms(t)} ms`);
      process.exit(0);
    }, 500);
  }, 50),
}).listen('127.0.0.1', 0, (t) => {
  const c = new WebSocket(`ws://127.0.0.1:${port(t)}`);
  c.on('error', () => {});
});
