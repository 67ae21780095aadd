// max-payload.md: what a client sees past maxPayloadLength (whole and fragmented messages).
'use strict';
const { uws, WebSocket, port } = require('./uws');
const once = (p, send) => new Promise((res) => {
  const c = new WebSocket(`ws://127.0.0.1:${p}`, { perMessageDeflate: false });
  let reply = null;
  c.on('open', () => send(c));
  c.on('message', (d) => { reply = String(d); c.close(); });
  c.on('error', () => {});
  c.on('close', (code) => res({ reply, code }));
});
const serverSaw = [];
uws.App().ws('/*', {
  idleTimeout: 0, maxPayloadLength: 1024,
  message: (ws, m) => ws.send(`got ${m.byteLength}`),
  close: (ws, code, msg) => serverSaw.push(`${code} "${Buffer.from(msg).toString()}"`),
}).listen('127.0.0.1', 0, async (t) => {
  const p = port(t);
  for (const n of [1024, 1025, 64 * 1024]) {
    const r = await once(p, (c) => c.send(Buffer.alloc(n)));
    console.log(`maxPayloadLength 1024, one ${n}-byte message: reply ${JSON.stringify(r.reply)}, client close ${r.code}, server close handler ${serverSaw.shift()}`);
  }
  const r = await once(p, (c) => { c.send(Buffer.alloc(600), { fin: false }); c.send(Buffer.alloc(600), { fin: true }); });
  console.log(`two 600-byte fragments: reply ${JSON.stringify(r.reply)}, client close ${r.code}, server close handler ${serverSaw.shift()}`);
  process.exit(0);
});
