// A WebSocket client that floods pings (125-byte payloads) and never reads the
// pongs: server RSS growth and whether the server cuts it.
//   node native-notes/checks/ping-flood.js [ROOT] [PINGS]   (ROOT: a checkout with dist/ built)
'use strict';
const crypto = require('crypto');
const net = require('net');
const path = require('path');
const { serve, rss } = require('./serve');
const root = path.resolve(process.argv[2] || path.join(__dirname, '../..'));
const pings = Number(process.argv[3] || 2000000);
function ping() {
  const mask = crypto.randomBytes(4);
  const p = Buffer.alloc(125);
  for (let i = 0; i < 125; i++) p[i] = 7 ^ mask[i & 3];
  return Buffer.concat([Buffer.from([0x89, 0x80 | 125]), mask, p]);
}
serve(root).then(async ({ srv, port, pid }) => {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  let closed = false;
  s.on('close', () => (closed = true));
  await new Promise((r) => s.once('connect', r));
  s.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise((r) => s.once('data', r));
  s.pause();
  const rss0 = rss(pid);
  const chunk = Buffer.concat(Array.from({ length: 1000 }, ping));
  let sent = 0;
  const t0 = Date.now();
  while (sent < pings && !closed && !s.destroyed) {
    if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), new Promise((r) => setTimeout(r, 3000))]);
    sent += 1000;
  }
  await new Promise((r) => setTimeout(r, 1000));
  console.log(JSON.stringify({ root, pingsSent: sent, seconds: (Date.now() - t0) / 1000, rssGrowthMB: +((rss(pid) - rss0) / 1048576).toFixed(1), cutByServer: closed }));
  s.destroy();
  srv.kill('SIGKILL');
});
