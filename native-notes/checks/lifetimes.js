// buffer-lifetimes.md + close-semantics.md: the message ArrayBuffer after the callback,
// msgpackr bin views, end() ordering, and what a closed ws throws.
'use strict';
const { uws, WebSocket, port } = require('./uws');
const { Packr, Unpackr } = require('msgpackr');
const order = [];
uws.App().ws('/*', {
  idleTimeout: 0,
  message: (ws, msg) => {
    const view = new Unpackr({ useRecords: false }).unpack(new Uint8Array(msg));
    const copy = new Unpackr({ useRecords: false, copyBuffers: true }).unpack(new Uint8Array(msg));
    console.log(`in callback: byteLength ${msg.byteLength}; default bin shares the input: ${view.buffer === msg}`);
    setImmediate(() => {
      console.log(`after callback: byteLength ${msg.byteLength}; default bin length ${view.length}; copyBuffers bin length ${copy.length}`);
      ws.end(1000, 'bye');
      order.push('end() returned');
      console.log('order:', order.join(' -> '));
      for (const m of ['send', 'end', 'cork', 'getBufferedAmount', 'ping', 'getUserData']) {
        try {
          const r = m === 'cork' ? ws.cork(() => {}) : ws[m]('x');
          console.log(`${m} on closed ws: no throw, returned ${JSON.stringify(r)}`);
        } catch (e) {
          console.log(`${m} on closed ws throws: ${e.message}`);
        }
      }
      process.exit(0);
    });
  },
  close: () => order.push('close handler'),
}).listen('127.0.0.1', 0, (t) => {
  const c = new WebSocket(`ws://127.0.0.1:${port(t)}`);
  c.on('open', () => c.send(new Packr({ useRecords: false }).pack(Buffer.from([1, 2, 3, 4]))));
  c.on('error', () => {});
});
