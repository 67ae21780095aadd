#!/usr/bin/env node
/**
 * Runs the chat example with one command (`npm run chat`): a ringloop server
 * with the chat plugin, and a small HTTP server for the page and the
 * browser bundle. Options: --port N (WebSocket, default 9000),
 * --http-port N (page, default 8080); 0 picks a free port.
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const wsPort = arg('--port', 9000);
const httpPort = arg('--http-port', 8080);
const bundle = path.join(root, 'dist', 'client', 'ringloop-client.js');
if (!fs.existsSync(bundle)) {
  console.error('chat: dist/client/ringloop-client.js is missing: run `npm run build` first (npm run chat does)');
  process.exit(1);
}

const server = spawn(process.execPath, [path.join(root, 'bin', 'ringloop.js'), 'serve', '--port', String(wsPort), '--plugin', path.join(__dirname, 'plugin.js')], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
server.on('exit', (code) => {
  console.error(`chat: ringloop exited (${code})`);
  process.exit(code === 0 ? 0 : 1);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill('SIGTERM'));

let buf = '';
server.stdout.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    let j;
    try {
      j = JSON.parse(line);
    } catch {
      continue;
    }
    if (j.msg === 'listening') startPage(j.port);
  }
});

function startPage(port) {
  const files = {
    '/': ['text/html', path.join(__dirname, 'public', 'index.html')],
    '/ringloop-client.js': ['text/javascript', bundle],
  };
  const page = http.createServer((req, res) => {
    const p = (req.url || '/').split('?')[0];
    if (p === '/config.json') {
      const host = (req.headers.host || '127.0.0.1').replace(/:\d+$/, '');
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: `ws://${host}:${port}` }));
    }
    const f = files[p];
    if (!f) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f[0] }).end(fs.readFileSync(f[1]));
  });
  page.listen(httpPort, '127.0.0.1', () => {
    const url = `http://127.0.0.1:${page.address().port}/`;
    console.log(JSON.stringify({ msg: 'chat ready', url, ws: port }));
    console.error(`chat: open ${url} in two browser windows`);
  });
}
