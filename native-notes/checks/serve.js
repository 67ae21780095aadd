// Shared by the checks that measure `ringloop serve` itself: starts it from a checkout (optionally under
// `ulimit -n`) and resolves once it listens, with its port and its reactor's pid (`serve` runs the reactor
// as a child of a supervisor: that is the process to measure).
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

/** { srv, port, pid, output() }: output() is all stdout so far (it keeps being read). */
function serve(root, { ulimit = null, stderr = 'inherit' } = {}) {
  const bin = path.join(root, 'bin/ringloop.js');
  const args = ['serve', '--port', '0', '--workers', '1', '--log-level', 'warn'];
  const stdio = ['ignore', 'pipe', stderr];
  const srv =
    ulimit === null
      ? spawn(process.execPath, [bin, ...args], { stdio })
      : spawn('bash', ['-c', `ulimit -n ${ulimit}; exec '${process.execPath}' '${bin}' ${args.join(' ')}`], { stdio });
  let out = '';
  return new Promise((resolve) => {
    let started = false;
    srv.stdout.on('data', (d) => {
      out += d.toString();
      const m = /"msg":"listening".*?"port":(\d+)|"port":(\d+).*?"msg":"listening"/.exec(out);
      const r = /"pid":(\d+)[^\n]*"msg":"reactor listening"/.exec(out);
      if (!m || !r || started) return;
      started = true;
      resolve({ srv, port: Number(m[1] || m[2]), pid: Number(r[1]), output: () => out });
    });
  });
}

const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

module.exports = { serve, rss };
