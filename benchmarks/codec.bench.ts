/**
 * Codec micro-benchmarks (benchmark.js): ringloop's decodeFrame / encodeResult
 * against plain msgpackr, @msgpack/msgpack and JSON on the same small echo
 * request and response.
 *
 *   npx tsc -p tsconfig.json && node dist/benchmarks/codec.bench.js [--quick]
 *
 * decodeFrame includes what the plain decoders skip: the byte-level validation
 * (ext types, 0xc1, depth), the RPC shape checks and the sink call. Writes
 * benchmarks/results/codec-<date>[-quick].json.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { Options, Packr, Unpackr } from 'msgpackr';
import { FrameSink, decodeFrame, encodeRequest, encodeResult } from '../lib/protocol/codec';
import { runMicro, type MicroCase } from './micro';

const PAYLOAD = 'hello, ringloop'; // a small echo param
const MSGID = 123456;

const one = Buffer.from(encodeRequest(MSGID, 'echo', [PAYLOAD]));
const sixteen = Buffer.concat(Array.from({ length: 16 }, (_, i) => encodeRequest(MSGID + i, 'echo', [PAYLOAD])));
const jsonOne = Buffer.from(JSON.stringify([0, MSGID, 'echo', [PAYLOAD]]));
const jsonSixteen = Buffer.from(JSON.stringify(Array.from({ length: 16 }, (_, i) => [0, MSGID + i, 'echo', [PAYLOAD]])));

// Plain msgpackr, configured as FACTS.md says, without ringloop's checks.
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' } as unknown as Options);
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
// @msgpack/msgpack with reused instances (its fastest use).
const mpDecoder = new Decoder();
const mpEncoder = new Encoder();

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

const D1 = 'decode 1 request';
const D16 = 'decode 16 requests (one frame)';
const E = 'encode 1 response';
const cases: MicroCase[] = [
  { group: D1, name: 'ringloop decodeFrame, 1 request', fn: () => void decodeFrame(one, sink) },
  { group: D1, name: 'msgpackr unpack, 1 request', fn: () => void (sinkValue = unpackr.unpack(one)) },
  { group: D1, name: '@msgpack/msgpack decode, 1 request', fn: () => void (sinkValue = mpDecoder.decode(one)) },
  { group: D1, name: 'JSON.parse, 1 request', fn: () => void (sinkValue = JSON.parse(jsonOne.toString())) },
  { group: D16, name: 'ringloop decodeFrame, 16 requests', perOp: 16, fn: () => void decodeFrame(sixteen, sink) },
  { group: D16, name: 'msgpackr unpackMultiple, 16 requests', perOp: 16, fn: () => void (sinkValue = unpackr.unpackMultiple(sixteen)) },
  {
    group: D16,
    name: '@msgpack/msgpack decodeMulti, 16 requests',
    perOp: 16,
    fn: () => {
      for (const m of mpDecoder.decodeMulti(sixteen)) sinkValue = m;
    },
  },
  { group: D16, name: 'JSON.parse, 16 requests', perOp: 16, fn: () => void (sinkValue = JSON.parse(jsonSixteen.toString())) },
  { group: E, name: 'ringloop encodeResult', fn: () => void (sinkValue = encodeResult(MSGID, PAYLOAD)) },
  { group: E, name: 'msgpackr pack [1, id, nil, result]', fn: () => void (sinkValue = packr.pack([1, MSGID, null, PAYLOAD])) },
  { group: E, name: '@msgpack/msgpack encode [1, id, nil, result]', fn: () => void (sinkValue = mpEncoder.encode([1, MSGID, null, PAYLOAD])) },
  { group: E, name: 'JSON.stringify + Buffer.from', fn: () => void (sinkValue = Buffer.from(JSON.stringify([1, MSGID, null, PAYLOAD]))) },
  {
    group: 'echo turn',
    name: 'ringloop decodeFrame + encodeResult',
    fn: () => {
      decodeFrame(one, sink);
      sinkValue = encodeResult(MSGID, lastParams[0]);
    },
  },
];

runMicro(
  {
    name: 'codec',
    quick: process.argv.includes('--quick'),
    description: `echo request [0, ${MSGID}, "echo", ["${PAYLOAD}"]] (${one.length} bytes) and its response; ringloop's codec vs msgpackr, @msgpack/msgpack and JSON`,
  },
  cases,
);
if (sinkCount === 0 || sinkValue === undefined) throw new Error('benchmark did nothing');
