// `GET /metrics` while every file descriptor is taken (`ulimit -n 64`, idle
// TCP connections filling the rest, three more waiting in the backlog): does
// the server answer, and does its reactor live on (or die and get replaced)?
//   node native-notes/checks/metrics-fd-limit.js [ROOT]   (ROOT: a checkout with dist/ built)
'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');
const { serve } = require('./serve');
const root = path.resolve(process.argv[2] || path.join(__dirname, '../..'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
serve(root, { ulimit: 64, stderr: 'pipe' }).then(async ({ srv, port, pid, output }) => {
  let stderr = '';
  srv.stderr.on('data', (d) => (stderr += d));
  let exit = null;
  srv.on('exit', (code, signal) => (exit = { code, signal }));
  const fds = () => fs.readdirSync(`/proc/${pid}/fd`).length;
  const scraper = net.connect(port, '127.0.0.1');
  let got = '';
  scraper.on('data', (x) => (got += x));
  scraper.on('error', () => {});
  await new Promise((r) => scraper.once('connect', r));
  const fill = [];
  while (fds() < 64) {
    fill.push(net.connect(port, '127.0.0.1').on('error', () => {}));
    await sleep(5);
  }
  for (let i = 0; i < 3; i++) fill.push(net.connect(port, '127.0.0.1').on('error', () => {}));
  await sleep(200);
  scraper.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(1000);
  const answer = got.split('\r\n')[0] || 'none';
  const reactorAlive = fs.existsSync(`/proc/${pid}`);
  const replaced = (output().match(/reactor listening/g) || []).length - 1;
  for (const s of fill) s.destroy();
  await sleep(300);
  let health = 'unreachable';
  try {
    health = String((await fetch(`http://127.0.0.1:${port}/healthz`)).status);
  } catch {}
  console.log(JSON.stringify({ root, fillers: fill.length, answer, reactorAlive, reactorsReplaced: replaced, healthzAfter: health, supervisorExited: exit, error: (/Error: .*/.exec(stderr) || [null])[0] }));
  scraper.destroy();
  srv.kill('SIGKILL');
  process.exit(0);
});
