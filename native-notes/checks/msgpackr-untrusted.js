// msgpackr-untrusted.md: what plain msgpackr does with hostile bytes, and what ringloop's decodeFrame does.
// Needs a build (npm run build); RINGLOOP_DIST points elsewhere if wanted.
'use strict';
const path = require('node:path');
const { Unpackr } = require('msgpackr');
const dist = process.env.RINGLOOP_DIST ?? path.join(__dirname, '../../dist');
const { decodeFrame } = require(path.join(dist, 'lib/protocol/codec.js'));
const plain = new Unpackr({ useRecords: false, mapsAsObjects: true });
const big = (_k, x) => (typeof x === 'bigint' ? `${x}n` : x);
const head = [0x94, 0x00, 0x01, 0xa4, 0x65, 0x63, 0x68, 0x6f, 0x91]; // [0, 1, "echo", [ <value> ]]
function show(name, bytes) {
  let m;
  try {
    const v = plain.unpack(Buffer.from(bytes));
    m = `${Object.prototype.toString.call(v)} ${JSON.stringify(v, big)?.slice(0, 50)}`;
  } catch (e) {
    m = `throws ${e.constructor.name}: ${e.message.slice(0, 50)}`;
  }
  const out = [];
  const sink = { request: (...a) => out.push(a), notification: (...a) => out.push(a), invalid: (...a) => out.push(['invalid', ...a]) };
  const err = decodeFrame(Buffer.from([...head, ...bytes]), sink);
  console.log(`${name}\n  msgpackr (useRecords:false): ${m}\n  ringloop echo request:       ${err ? `close ${err.close}` : JSON.stringify(out, big)}`);
}
show('0xc1', [0xc1]);
show('msgpackr record ext 0x72', [0xd4, 0x72, 0x40, 0x91, 0xa1, 0x61, 0x01]);
show('unknown ext type 1', [0xd4, 0x01, 0x00]);
show('timestamp ext -1', [0xd6, 0xff, 0, 0, 0, 0]);
show('uint64 5', [0xcf, 0, 0, 0, 0, 0, 0, 0, 5]);
show('map {"__proto__": 1}', [0x81, 0xa9, ...Buffer.from('__proto__'), 0x01]);
show('str with invalid UTF-8', [0xa2, 0xff, 0xfe]);
show('5,000 nested arrays', [...Buffer.alloc(5000, 0x91), 0x00]);
