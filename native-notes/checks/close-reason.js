// close-semantics.md: raw uWS end() (not ringloop) with a long non-ASCII reason, and with codes a close
// frame must not carry. spec/close-reason.spec.ts shows what ringloop sends instead.
'use strict';
const { uws, WebSocket, port } = require('./uws');
const cases = [
  [1000, 'x'.repeat(120)],
  [1000, 'é'.repeat(100)], // 100 UTF-16 units, 200 UTF-8 bytes
  [1000, 'é'.repeat(61)],  // 122 bytes: fits
  [1004, 'r'],
  [1005, 'r'],
  [1006, 'r'],
  [1015, 'r'],
  [5000, 'r'],
];
let next = 0;
const app = uws.App().ws('/*', { idleTimeout: 0, open: (ws) => { const [code, reason] = cases[next]; ws.end(code, reason); } });
app.listen('127.0.0.1', 0, async (t) => {
  for (; next < cases.length; next++) {
    const [code, reason] = cases[next];
    await new Promise((res) => {
      const c = new WebSocket(`ws://127.0.0.1:${port(t)}`);
      let err = '';
      c.on('error', (e) => (err = e.code ?? e.message));
      c.on('close', (got, r) => {
        console.log(`end(${code}, ${reason.length}-unit/${Buffer.byteLength(reason)}-byte reason): client sees ${got} ${err} (reason ${r.length} B)`);
        res();
      });
    });
  }
  process.exit(0);
});
