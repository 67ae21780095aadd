// `GET /metrics` while every file descriptor is taken (`ulimit -n 64`, idle
// TCP connections filling the rest, three more waiting in the backlog): does
// the server answer, and does its reactor live on (or die and get replaced)?
//   node native-notes/checks/metrics-fd-limit.js [ROOT]   (ROOT: a checkout with dist/ built)
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const path = require('path');
const root = path.resolve(process.argv[2] || path.join(__dirname, '../..'));
const bin = path.join(root, 'bin/ringloop.js');
const srv = spawn('bash', ['-c', `ulimit -n 64; exec '${process.execPath}' '${bin}' serve --port 0 --workers 1 --log-level warn`], { stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
srv.stderr.on('data', (d) => (stderr += d));
let exit = null;
srv.on('exit', (code, signal) => (exit = { code, signal }));
let pid = 0; // the reactor: `serve` runs it as a child of a supervisor
const fds = () => fs.readdirSync(`/proc/${pid}/fd`).length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let out = '';
let started = false;
srv.stdout.on('data', async (d) => {
  out += d.toString();
  const m = /"port":(\d+).*?"msg":"listening"/.exec(out);
  const r = /"pid":(\d+)[^\n]*"msg":"reactor listening"/.exec(out);
  if (!m || !r || started) return;
  started = true;
  const port = Number(m[1]);
  pid = Number(r[1]);
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
  const replaced = (out.match(/reactor listening/g) || []).length - 1;
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
