// N pipelined `GET PATH` on one connection that never reads: how far the
// server's RSS grows and whether it closes the connection.
//   node native-notes/checks/http-pipeline.js [ROOT] [PATH] [N]
//   (ROOT: a checkout with dist/ built, default this one; PATH default /metrics; N default 100000)
'use strict';
const net = require('net');
const path = require('path');
const { serve, rss } = require('./serve');
const root = path.resolve(process.argv[2] || path.join(__dirname, '../..'));
const target = process.argv[3] || '/metrics';
const n = Number(process.argv[4] || 100000);
serve(root).then(async ({ srv, port, pid }) => {
  await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const rss0 = rss(pid);
  const s = net.connect(port, '127.0.0.1');
  s.pause();
  let closedAt = 0;
  const t0 = Date.now();
  s.on('close', () => (closedAt = Date.now() - t0));
  s.on('error', () => {});
  const one = Buffer.from(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => one));
  for (let i = 0; i < n / 1000 && !s.destroyed; i++) s.write(batch);
  let peak = 0;
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 250));
    peak = Math.max(peak, rss(pid) - rss0);
  }
  // Now read: how many answers were sent before the server gave up on the connection?
  let answers = 0;
  let tail = '';
  s.on('data', (b) => {
    const t = tail + b.toString('latin1');
    answers += (t.match(/HTTP\/1\.1 \d\d\d/g) || []).length;
    tail = t.slice(-16);
  });
  s.resume();
  await new Promise((r) => setTimeout(r, 3000));
  console.log(JSON.stringify({ root, target, n, rssGrowthMB: +(peak / 1048576).toFixed(1), answersRead: answers, closedByServer: closedAt > 0 }));
  s.destroy();
  srv.kill('SIGKILL');
});
