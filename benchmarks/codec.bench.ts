/**
 * Codec micro-benchmarks: ringloop's decodeFrame / encodeResult against plain
 * msgpackr and JSON on the same small echo request.
 *
 *   npx tsc -p tsconfig.json && node dist/benchmarks/codec.bench.js
 *
 * decodeFrame includes what plain msgpackr skips: the byte-level validation
 * (ext types, 0xc1, depth), the RPC shape checks and the sink call.
 */
import Benchmark from 'benchmark';
import { Options, Packr, Unpackr } from 'msgpackr';
import { FrameSink, decodeFrame, encodeRequest, encodeResult } from '../lib/protocol/codec';

const PAYLOAD = 'hello, ringloop'; // a small echo param
const MSGID = 123456;

const one = Buffer.from(encodeRequest(MSGID, 'echo', [PAYLOAD]));
const sixteen = Buffer.concat(Array.from({ length: 16 }, (_, i) => encodeRequest(MSGID + i, 'echo', [PAYLOAD])));
const jsonOne = Buffer.from(JSON.stringify([0, MSGID, 'echo', [PAYLOAD]]));
const jsonSixteen = Buffer.from(JSON.stringify(Array.from({ length: 16 }, (_, i) => [0, MSGID + i, 'echo', [PAYLOAD]])));

// Plain msgpackr, configured as FACTS.md says, without ringloop's checks.
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' } as unknown as Options);
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

let sinkCount = 0;
let lastParams: unknown[] = [];
const sink: FrameSink = {
  request(_msgid, _method, params) {
    sinkCount++;
    lastParams = params;
  },
  notification() {
    sinkCount++;
  },
  invalid() {
    sinkCount++;
  },
};
let sinkValue: unknown; // keeps results alive so nothing is optimised away

const cases: Array<{ name: string; perOp: number; fn: () => void }> = [
  { name: 'decodeFrame, 1 request/frame', perOp: 1, fn: () => void decodeFrame(one, sink) },
  { name: 'msgpackr unpack, 1 request', perOp: 1, fn: () => void (sinkValue = unpackr.unpack(one)) },
  { name: 'JSON.parse, 1 request', perOp: 1, fn: () => void (sinkValue = JSON.parse(jsonOne.toString())) },
  { name: 'decodeFrame, 16 requests/frame', perOp: 16, fn: () => void decodeFrame(sixteen, sink) },
  { name: 'msgpackr unpackMultiple, 16 requests', perOp: 16, fn: () => void (sinkValue = unpackr.unpackMultiple(sixteen)) },
  { name: 'JSON.parse, 16 requests', perOp: 16, fn: () => void (sinkValue = JSON.parse(jsonSixteen.toString())) },
  { name: 'encodeResult', perOp: 1, fn: () => void (sinkValue = encodeResult(MSGID, PAYLOAD)) },
  { name: 'msgpackr pack [1, id, nil, result]', perOp: 1, fn: () => void (sinkValue = packr.pack([1, MSGID, null, PAYLOAD])) },
  { name: 'JSON.stringify + Buffer.from', perOp: 1, fn: () => void (sinkValue = Buffer.from(JSON.stringify([1, MSGID, null, PAYLOAD]))) },
  {
    name: 'echo turn: decodeFrame + encodeResult',
    perOp: 1,
    fn: () => {
      decodeFrame(one, sink);
      sinkValue = encodeResult(MSGID, lastParams[0]);
    },
  },
];

const suite = new Benchmark.Suite('codec');
// maxTime 2 s per case keeps the whole run near 30 s
for (const c of cases) suite.add(c.name, c.fn, { minSamples: 20, maxTime: 2 });

suite
  .on('cycle', (event: Benchmark.Event) => {
    const b = event.target;
    const name = b.name ?? '';
    const c = cases.find((x) => x.name === name);
    const hz = b.hz ?? 0;
    const msgs = c && c.perOp > 1 ? `  (${Math.round(hz * c.perOp).toLocaleString('en-US')} messages/s)` : '';
    const rme = b.stats ? `±${b.stats.rme.toFixed(1)}%` : '';
    console.log(`${name.padEnd(42)} ${Math.round(hz).toLocaleString('en-US').padStart(12)} ops/s ${rme}${msgs}`);
  })
  .on('complete', () => {
    if (sinkCount === 0 || sinkValue === undefined) throw new Error('benchmark did nothing');
    console.log(`node ${process.version}, ${process.arch}`);
  })
  .run({ async: false });
