// Raw uWS: what the HTTP parser does with ambiguous framing and malformed
// requests, and how a refusal can leave before a smuggled request is read.
//   node native-notes/checks/http-framing.js [--slow]   (--slow also times the malformed requests, ~40 s)
'use strict';
const net = require('net');
const { uws, port } = require('./uws');

let mode = 'answer';
const seen = [];
const app = uws.App();
app.any('/*', (res, req) => {
  const headers = [];
  req.forEach((k, v) => headers.push(`${k}=${v}`));
  seen.push(`${req.getUrl()} [${headers.filter((h) => /^(content-length|transfer-encoding)=/.test(h)).join(' ')}]`);
  if (req.getUrl() === '/refuse') {
    // 'small': a plain 400 + close; 'padded': a body longer than uWS's 16 KiB cork buffer.
    const body = mode === 'padded' ? 'bad\n'.padEnd(16 * 1024 + 1) : 'bad\n';
    return void res.writeStatus('400 Bad Request').end(body, true);
  }
  res.end('ok');
});

function raw(p, data, ms) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(p, '127.0.0.1', () => s.write(data));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', (e) => (out += `[${e.code}]`));
    const done = (how) => {
      s.destroy();
      const statuses = (out.match(/HTTP\/1\.1 \d\d\d/g) || []).join(', ') || 'no answer';
      resolve(`${statuses}; ${how} after ${Date.now() - t0} ms`);
    };
    s.on('close', () => done('closed by server'));
    setTimeout(() => done('still open'), ms);
  });
}

const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const cases = [
  ['Content-Length 0 then 50, request behind', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 50\r\n\r\n${smuggled}`],
  ['Content-Length + Transfer-Encoding', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
  ['Transfer-Encoding: chunked alone (body read as a body)', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${smuggled}`],
  ['refused with a small 400 + close, request behind', `POST /refuse HTTP/1.1\r\nHost: x\r\n\r\n${smuggled}`, 'small'],
  ['refused with a padded 400 + close, request behind', `POST /refuse HTTP/1.1\r\nHost: x\r\n\r\n${smuggled}`, 'padded'],
];
const headers = (n) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('');
const slow = [
  ['48 headers (Host + 47)', `GET /a HTTP/1.1\r\nHost: x\r\n${headers(47)}\r\n`],
  ['49 headers (Host + 48)', `GET /a HTTP/1.1\r\nHost: x\r\n${headers(48)}\r\n`],
  ['obs-fold', 'GET /a HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n'],
  ['bare LF', 'GET /a HTTP/1.1\nHost: x\n\n'],
];

app.listen(0, async (token) => {
  const p = port(token);
  for (const [name, data, m] of cases) {
    mode = m || 'answer';
    seen.length = 0;
    const r = await raw(p, data, 500);
    console.log(`${name}: ${r}; handler saw: ${seen.join(' | ') || 'nothing'}`);
  }
  if (process.argv.includes('--slow')) {
    for (const [name, data] of slow) {
      seen.length = 0;
      console.log(`${name}: ${await raw(p, data, 20000)}; handler saw: ${seen.join(' | ') || 'nothing'}`);
    }
  }
  process.exit(0);
});
