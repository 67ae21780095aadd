// reuseport.md: can a second process listen on a port a first one holds?
// first/second listen: default (SO_REUSEPORT), or LIBUS_LISTEN_EXCLUSIVE_PORT; first on a fixed port or on port 0.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
if (process.argv[2] === 'child') {
  const { uws } = require('./uws');
  const [, , , mode, p, holdMs] = process.argv;
  const cb = (t) => {
    process.stdout.write(t ? `BOUND ${uws.us_socket_local_port(t)}\n` : 'refused\n');
    setTimeout(() => process.exit(0), t ? Number(holdMs) : 0);
  };
  const opts = mode === 'exclusive' ? uws.LIBUS_LISTEN_EXCLUSIVE_PORT : 0;
  uws.App().listen('127.0.0.1', Number(p), opts, cb);
} else {
  const start = (mode, p, hold) => new Promise((res) => {
    const c = spawn(process.execPath, [__filename, 'child', mode, String(p), String(hold)]);
    c.stdout.once('data', (d) => res({ line: String(d).trim(), done: new Promise((r) => c.on('exit', r)) }));
  });
  const freePort = () => new Promise((res) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
  (async () => {
    for (const fixed of [true, false]) {
      for (const [a, b] of [['default', 'default'], ['default', 'exclusive'], ['exclusive', 'default']]) {
        const first = await start(a, fixed ? await freePort() : 0, 800);
        const p = Number(first.line.split(' ')[1]);
        const second = await start(b, p, 0);
        console.log(`first ${a} on ${fixed ? 'a fixed port' : 'port 0'} (${first.line}), second ${b} on ${p}: ${second.line}`);
        await first.done;
      }
    }
  })();
}
