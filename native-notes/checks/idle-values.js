// idle-timeout.md: which idleTimeout values uWS accepts (a bad one aborts the whole process).
'use strict';
const { spawnSync } = require('node:child_process');
if (process.argv[2] === 'child') {
  require('./uws').uws.App().ws('/*', { idleTimeout: Number(process.argv[3]) });
  process.exit(0);
}
for (const v of [0, 1, 7, 8, 9, 12, 960, 961]) {
  const r = spawnSync(process.execPath, [__filename, 'child', String(v)], { encoding: 'utf8' });
  const msg = (r.stdout + r.stderr).split('\n').find((l) => l.startsWith('Error')) ?? 'accepted';
  console.log(`idleTimeout ${v}: exit ${r.status ?? r.signal} ${msg}`);
}
