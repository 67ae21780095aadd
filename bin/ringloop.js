#!/usr/bin/env node
'use strict';
let cli;
try {
  cli = require('../dist/lib/cli/main.js');
} catch (e) {
  process.stderr.write('ringloop: not built yet (run `npm run build`): ' + e.message.split('\n')[0] + '\n');
  process.exit(1);
}
cli.main(process.argv.slice(2));
