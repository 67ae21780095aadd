/*
 * Integers leave as MessagePack integers in their smallest form (CONTRACT.md,
 * `echo`): checked byte for byte against Python's msgpack.packb and
 * @msgpack/msgpack across the whole int64/uint64 range, in every encode path
 * (results, errors' data, notifications, pool results), and end to end
 * through real sockets with bytes Python encoded.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { decode as mpDecode, encode as mpEncode } from '@msgpack/msgpack';
import { decodeAny, encodeError, encodeNotification, encodeResult } from '../lib/protocol/codec';
import { encodeResultBody } from '../lib/pool/wire';
import type { Plugin } from '../lib/plugins/plugin';
import { ROOT, RpcClient, delay, startReactor, type TestServer } from './helpers/client';

const PYTHON = '/usr/bin/python3';
const MIN = -(2n ** 63n);
const MAX = 2n ** 64n - 1n;
const SAFE = 2n ** 53n;

// Every boundary between two integer forms, each side of it, and the ends of the range.
const EDGES: bigint[] = [];
for (const e of [0n, 5n, 7n, 8n, 15n, 16n, 31n, 32n, 53n, 63n, 64n]) {
  const p = 2n ** e;
  for (const v of [p - 1n, p, p + 1n, -p - 1n, -p, -p + 1n]) if (v >= MIN && v <= MAX) EDGES.push(v);
}
EDGES.push(MIN, MAX, 2n ** 63n - 1n, 2n ** 40n, -(2n ** 40n), 2n ** 32n);

/** Python's msgpack.packb of each value, as hex (one process for the whole batch). */
function pythonPack(values: bigint[], wrap: 'bare' | 'nested'): string[] {
  const script = `
import json, sys, msgpack
for v in json.load(sys.stdin):
    v = int(v)
    print(msgpack.packb(v if sys.argv[1] == 'bare' else [v, [[v], v]]).hex())
`;
  const out = execFileSync(PYTHON, ['-c', script, wrap], { input: JSON.stringify(values.map(String)), maxBuffer: 64 << 20 });
  return out.toString().trim().split('\n');
}

/** The bytes of the value after the `[1, msgid, nil,` header of a response to msgid 1. */
function resultBytes(v: unknown): string {
  return encodeResult(1, v).subarray(4).toString('hex');
}

/** A JS value holding v the way ringloop's decoder hands it to a method (number up to 2^53, BigInt beyond). */
function asDecoded(v: bigint): number | bigint {
  return v >= -SAFE && v <= SAFE ? Number(v) : v;
}

// Uniform over the full range, plus values near each power of two (where the forms change).
const anyInt64 = fc.oneof(
  fc.bigInt({ min: MIN, max: MAX }),
  fc.tuple(fc.integer({ min: 0, max: 64 }), fc.integer({ min: -3, max: 3 }), fc.boolean()).map(([e, d, neg]) => {
    const v = (neg ? -1n : 1n) * 2n ** BigInt(e) + BigInt(d);
    return v < MIN ? MIN : v > MAX ? MAX : v;
  }),
);

describe('integers are sent as the smallest MessagePack integer', () => {
  it('results: byte-identical to Python msgpack.packb across the int64/uint64 range (BigInt and number)', function () {
    this.timeout(20000);
    const values = [...EDGES, ...fc.sample(anyInt64, { numRuns: 3000, seed: 14 })];
    const py = pythonPack(values, 'bare');
    const pyNested = pythonPack(values, 'nested');
    values.forEach((v, i) => {
      expect(resultBytes(v), `BigInt ${v}`).to.equal(py[i]);
      // A number holds every integer up to 2^53 exactly, and beyond only some: those must go out as integers too.
      if (Number.isInteger(Number(v)) && BigInt(Number(v)) === v) expect(resultBytes(Number(v)), `number ${v}`).to.equal(py[i]);
      // (In arrays: msgpackr writes an object's map header as map16, where Python writes a fixmap.)
      expect(resultBytes([asDecoded(v), [[asDecoded(v)], asDecoded(v)]]), `nested ${v}`).to.equal(pyNested[i]);
    });
  });

  it('numbers: byte-identical to @msgpack/msgpack for every safe integer, and decode back to the same value', () => {
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeInteger(), fc.integer()), (n) => {
        const want = Buffer.from(mpEncode(n)).toString('hex');
        expect(resultBytes(n)).to.equal(want);
        expect(resultBytes([n, [n]])).to.equal(Buffer.from(mpEncode([n, [n]])).toString('hex'));
        const [msg] = decodeAny(encodeResult(7, n)) as [unknown[]];
        expect(Object.is(msg[3], n === 0 ? 0 : n)).to.equal(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('BigInts: decode back to the same integer with @msgpack/msgpack and with ringloop', () => {
    fc.assert(
      fc.property(anyInt64, (v) => {
        const bytes = encodeResult(3, [v]);
        const theirs = mpDecode(bytes, { useBigInt64: true }) as [number, number, null, [bigint | number]];
        expect(BigInt(theirs[3][0])).to.equal(v);
        const [ours] = decodeAny(bytes) as [[number, number, null, [bigint | number]]];
        expect(ours[3][0]).to.equal(asDecoded(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('non-integral numbers and integers beyond 64 bits stay float64; BigInts beyond 64 bits are refused', () => {
    for (const f of [1.5, -0.25, 2 ** 64, -(2 ** 63) * 2, 1e300, Infinity, NaN]) {
      expect(resultBytes(f).slice(0, 2), String(f)).to.equal('cb');
      expect(resultBytes([f]).slice(0, 4), String(f)).to.equal('91cb');
    }
    expect(resultBytes(-0)).to.equal('00');
    expect(() => encodeResult(1, 2n ** 64n)).to.throw(TypeError);
    expect(() => encodeResult(1, [-(2n ** 63n) - 1n])).to.throw(TypeError);
  });

  it('notifications, error data and pool results use the same forms', () => {
    const v = 2 ** 40;
    const want = pythonPack([BigInt(v), -(2n ** 40n), 2n ** 63n - 1n], 'bare');
    expect(encodeNotification('t', [v, -v, 2n ** 63n - 1n]).toString('hex')).to.equal('9302a174' + '93' + want.join(''));
    const err = decodeAny(encodeError(1, { code: 'HANDLER_ERROR', message: 'm', data: { n: v } }))[0] as unknown[];
    expect(err[2]).to.deep.equal({ code: 'HANDLER_ERROR', message: 'm', data: { n: v } });
    expect(encodeError(1, { code: 'HANDLER_ERROR', message: 'm', data: v }).toString('hex')).to.contain(want[0]);
    expect(encodeResultBody(v).toString('hex')).to.equal(want[0]);
    expect(encodeResultBody([-(2 ** 40)]).toString('hex')).to.equal('91' + want[1]);
    expect(encodeResultBody(2n ** 63n - 1n).toString('hex')).to.equal(want[2]);
  });

  describe('end to end, through real sockets', () => {
    let srv: TestServer;
    afterEach(async () => {
      await srv?.close();
    });

    it('Python-encoded int64/uint64 sent to echo (on the reactor and on the pool) come back as the same bytes', async function () {
      this.timeout(20000);
      const fixture = path.join(ROOT, 'spec', 'fixtures', 'pool-tasks.js');
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      srv = await startReactor({ workers: 1 }, async (r) => void (await r.register(require(fixture) as Plugin<unknown>)));
      const values = [2n ** 32n, 2n ** 40n, -(2n ** 40n), 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n, MIN, 5n, -33n];
      const packed = pythonPack(values, 'bare');
      const c = await RpcClient.connect(srv.url);
      let msgid = 1;
      for (const method of ['echo', 'pool.echo']) {
        for (let i = 0; i < values.length; i++) {
          const id = msgid++;
          // [0, id, method, [value]] with the value exactly as Python packed it.
          const head = Buffer.from(mpEncode([0, id, method]));
          head[0] = 0x94;
          const frame = Buffer.concat([head, Buffer.from('91' + packed[i], 'hex')]);
          c.sendRaw(frame);
          await c.reply(id);
          // One request at a time: its answer is the last frame, and the value its last bytes.
          const raw = c.frames[c.frames.length - 1];
          expect((decodeAny(raw)[0] as unknown[])[1]).to.equal(id);
          expect(raw.subarray(raw.length - packed[i].length / 2).toString('hex'), `${method} ${values[i]}`).to.equal(packed[i]);
        }
      }
      c.close();
    });

    it('pub/sub data: a published 2**40, -2**40 and BigInt reach a subscriber as integers', async () => {
      srv = await startReactor();
      const c = await RpcClient.connect(srv.url);
      expect((await c.call('ringloop.subscribe', ['ints'])).result).to.equal(true);
      const data = [2 ** 40, -(2 ** 40), 2n ** 63n - 1n, 2n ** 64n - 1n];
      expect((await c.call('ringloop.publish', ['ints', data])).result).to.equal(true);
      const want = '94' + pythonPack(data.map((v) => BigInt(v)), 'bare').join('');
      for (let i = 0; i < 50 && !c.frames.some((f) => f.toString('hex').endsWith(want)); i++) await delay(20);
      expect(c.frames.some((f) => f.toString('hex').endsWith(want)), 'delivered with integer forms').to.equal(true);
      c.close();
    });
  });
});
