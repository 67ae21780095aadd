// http-request-lifetime.md: an HTTP handler that awaits before responding.
'use strict';
const { spawnSync } = require('node:child_process');
const mode = process.argv[2];
if (mode) {
  const http = require('node:http');
  const { uws, port } = require('./uws');
  uws.App().get('/*', async (res, req) => {
    if (mode === 'onAborted') res.onAborted(() => {});
    await null;
    if (mode === 'late-req') console.log(`req.getUrl() after await returned ${JSON.stringify(req.getUrl())} (no error)`);
    setTimeout(() => res.cork(() => res.end('late')), 10);
  }).listen('127.0.0.1', 0, (t) => {
    http.get({ host: '127.0.0.1', port: port(t), path: '/x' }, (r) => {
      r.resume();
      r.on('end', () => { console.log(`client got ${r.statusCode}`); process.exit(0); });
    }).on('error', (e) => console.log('client error', e.message));
  });
} else {
  for (const m of ['plain', 'onAborted', 'late-req']) {
    const r = spawnSync(process.execPath, [__filename, m], { encoding: 'utf8' });
    const out = (r.stdout + r.stderr).trim().split('\n').filter((l) => !l.startsWith('terminate')).join(' | ');
    console.log(`${m}: exit ${r.status ?? r.signal}: ${out}`);
  }
}
