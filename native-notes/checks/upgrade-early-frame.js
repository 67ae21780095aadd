// Raw uWS: a WebSocket frame written together with (or right behind) the
// upgrade request. Counts, over 20 runs each, how often `message` fires when
// the upgrade is done synchronously, done after a tick (async, as with an async
// authenticator), or when the client waits 20 ms before the frame (and an
// upgrade that takes 50 ms, like a slow authenticator, with that frame).
//   node native-notes/checks/upgrade-early-frame.js
'use strict';
const crypto = require('crypto');
const net = require('net');
const { uws, port } = require('./uws');

let mode = 'sync';
let delivered = 0;
let opened = 0;
const app = uws.App();
app.ws('/*', {
  upgrade: (res, req, ctx) => {
    const k = req.getHeader('sec-websocket-key');
    const p = req.getHeader('sec-websocket-protocol');
    const e = req.getHeader('sec-websocket-extensions');
    if (mode === 'sync') return res.upgrade({}, k, p, e, ctx);
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const later = () => !aborted && res.cork(() => res.upgrade({}, k, p, e, ctx));
    if (mode === 'async') setImmediate(later);
    else setTimeout(later, 50);
  },
  open: () => opened++,
  message: () => delivered++,
});

function frame(text) {
  const p = Buffer.from(text);
  const mask = crypto.randomBytes(4);
  const b = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) b[i] = p[i] ^ mask[i & 3];
  return Buffer.concat([Buffer.from([0x82, 0x80 | p.length]), mask, b]);
}

function once(p, gap) {
  return new Promise((resolve) => {
    const s = net.connect(p, '127.0.0.1', () => {
      const hs = Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      if (gap === 0) s.write(Buffer.concat([hs, frame('hello')]));
      else {
        s.write(hs);
        setTimeout(() => s.write(frame('hello')), gap);
      }
    });
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => {});
    setTimeout(() => {
      s.destroy();
      resolve(got.startsWith('HTTP/1.1 101'));
    }, gap + 200);
  });
}

app.listen(0, async (token) => {
  const p = port(token);
  for (const [m, gap] of [['sync', 0], ['async', 0], ['sync', 20], ['async', 20], ['slow', 20]]) {
    mode = m;
    delivered = 0;
    opened = 0;
    let upgraded = 0;
    for (let i = 0; i < 20; i++) if (await once(p, gap)) upgraded++;
    console.log(`${m === 'slow' ? 'upgrade 50 ms later' : `${m} upgrade`}, frame ${gap === 0 ? 'in the same write' : `${gap} ms after`}: 101 ${upgraded}/20, open ${opened}/20, message ${delivered}/20`);
  }
  process.exit(0);
});
