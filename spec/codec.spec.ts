import { expect } from 'chai';
import { Packr, unpack } from 'msgpackr';
import {
  FrameError,
  FrameSink,
  decodeAny,
  decodeFrame,
  encodeError,
  encodeNotification,
  encodeRequest,
  encodeResult,
} from '../lib/protocol/codec';
import {
  MAX_DEPTH,
  SCAN_FLAG_BIN,
  SCAN_FLAG_TRUNCATED,
  SCAN_FLAG_UNSAFE_KEY,
  SCAN_INCOMPLETE,
  SCAN_INVALID,
  lastScanFlags,
  lastScanHadBin,
  scanFrame,
  scanMessage,
} from '../lib/protocol/scan';
import { ErrorCode } from '../lib/errors';

/** "94 00 01" -> bytes */
function hx(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

// ['request', msgid, method, params] | ['notification', method, params] | ['invalid', msgid, reason]
type Call = unknown[];

function run(bytes: Uint8Array): { calls: Call[]; err: FrameError | null } {
  const calls: Call[] = [];
  const sink: FrameSink = {
    request: (msgid, method, params) => calls.push(['request', msgid, method, params]),
    notification: (method, params) => calls.push(['notification', method, params]),
    invalid: (msgid, reason) => calls.push(['invalid', msgid, reason]),
  };
  const err = decodeFrame(bytes, sink);
  return { calls, err };
}

// `[0, <msgid bytes>, "m", []]`
function reqWithId(idHex: string): Buffer {
  return hx(`94 00 ${idHex} a1 6d 90`);
}

// A request whose params are [<value bytes>]
function reqWithParam(valueHex: string | Buffer): Buffer {
  const v = typeof valueHex === 'string' ? hx(valueHex) : valueHex;
  return Buffer.concat([hx('94 00 01 a1 6d 91'), v]);
}

// n nested arrays, innermost empty: depth n
function nestedArrays(n: number): Buffer {
  const b = Buffer.alloc(n, 0x91);
  b[n - 1] = 0x90;
  return b;
}

describe('protocol/scan', () => {
  it('returns the offset just past one value and ignores what follows', () => {
    const b = hx('93 01 a3 61 62 63 c0  ff');
    expect(scanMessage(b, 0, b.length)).to.equal(7);
    expect(scanMessage(b, 7, b.length)).to.equal(8);
    expect(scanMessage(b, 2, b.length)).to.equal(6); // the fixstr alone
  });

  it('walks every scalar and container encoding', () => {
    const all = hx(
      'dc 00 17' + // array16 of 23 items
        ' c0 c2 c3 7f e0 cc ff cd ffff ce ffffffff cf 0000000000000001' +
        ' d0 80 d1 8000 d2 80000000 d3 8000000000000000' +
        ' ca 3f800000 cb 3ff0000000000000' +
        ' d9 01 61 da 0001 62 db 00000001 63' +
        ' c4 01 00 c5 0001 00 c6 00000001 00' +
        ' de 0001 a1 6b dd 00000000 df 00000000',
    );
    expect(scanMessage(all, 0, all.length)).to.equal(all.length);
    expect(lastScanHadBin()).to.equal(true);
    // every proper prefix ends inside the value
    for (let i = 0; i < all.length; i++) expect(scanMessage(all, 0, i), `prefix ${i}`).to.equal(SCAN_INCOMPLETE);
  });

  it('rejects 0xc1 and every extension type', () => {
    for (const h of ['c1', 'd4 01 00', 'd5 01 0000', 'd6 01 00000000', 'd7 01 0000000000000000', 'd8 01' + '00'.repeat(16), 'c7 01 01 00', 'c8 0001 01 00', 'c9 00000001 01 00']) {
      expect(scanMessage(hx(h), 0, hx(h).length), h).to.equal(SCAN_INVALID);
      const inside = hx('92 01 ' + h);
      expect(scanMessage(inside, 0, inside.length), h).to.equal(SCAN_INVALID);
    }
  });

  it('allows nesting to depth 64 and rejects 65, empty containers included', () => {
    expect(MAX_DEPTH).to.equal(64);
    expect(scanMessage(nestedArrays(64), 0, 64)).to.equal(64);
    expect(scanMessage(nestedArrays(65), 0, 65)).to.equal(SCAN_INVALID);
    // 63 maps {"":{"":...}} then an empty map at 64 / 65
    const maps = (n: number) => Buffer.concat([Buffer.from('81a0'.repeat(n - 1), 'hex'), hx('80')]);
    expect(scanMessage(maps(64), 0, maps(64).length)).to.equal(maps(64).length);
    expect(scanMessage(maps(65), 0, maps(65).length)).to.equal(SCAN_INVALID);
  });

  it('skips str/bin payloads by length and fails fast on huge declared lengths', () => {
    const big = Buffer.alloc((1 << 20) + 5);
    big[0] = 0xc6;
    big.writeUInt32BE(1 << 20, 1);
    expect(scanMessage(big, 0, (1 << 20) + 5)).to.equal((1 << 20) + 5);
    for (const h of ['db ffffffff', 'c6 ffffffff', 'dd ffffffff 01', 'df ffffffff 01 01']) {
      const t = process.hrtime.bigint();
      expect(scanMessage(hx(h), 0, hx(h).length), h).to.equal(SCAN_INCOMPLETE);
      expect(Number(process.hrtime.bigint() - t) / 1e6).to.be.below(50);
    }
  });

  it('flags bin, and "__proto__" or container/bin map keys, only in key position', () => {
    const proto = 'a9 5f5f70726f746f5f5f';
    const scanAll = (b: Buffer) => expect(scanMessage(b, 0, b.length)).to.equal(b.length);
    scanAll(hx(`81 ${proto} 01`));
    expect(lastScanFlags() & SCAN_FLAG_UNSAFE_KEY).to.not.equal(0);
    scanAll(hx(`81 a1 61 ${proto}`)); // as a value: harmless
    expect(lastScanFlags()).to.equal(0);
    scanAll(hx(`91 ${proto}`));
    expect(lastScanFlags()).to.equal(0);
    scanAll(hx(`81 a8 5f5f70726f746f5f 01`)); // "__proto_" is an ordinary key
    expect(lastScanFlags()).to.equal(0);
    const str8 = hx(`82 a1 61 01 d9 09 5f5f70726f746f5f5f 01`);
    scanAll(str8);
    expect(lastScanFlags() & SCAN_FLAG_UNSAFE_KEY).to.not.equal(0);
    for (const key of ['90', '80', 'c4 00', '91 01']) {
      const b = hx(`81 ${key} 01`);
      expect(scanMessage(b, 0, b.length)).to.equal(b.length);
      expect(lastScanFlags() & SCAN_FLAG_UNSAFE_KEY, key).to.not.equal(0);
    }
    for (const key of ['01', 'c0', 'c3', 'ca 3fc00000', 'a1 61']) {
      scanAll(hx(`81 ${key} 01`));
      expect(lastScanFlags(), key).to.equal(0);
    }
    scanAll(hx('92 c4 01 00 01'));
    expect(lastScanFlags()).to.equal(SCAN_FLAG_BIN);
  });

  it('scanFrame counts back-to-back messages; a cut-off last one makes the frame invalid', () => {
    const f = hx('01 92 01 02 a1 61 c0');
    expect(scanFrame(f, 0, f.length)).to.equal(4);
    expect(scanFrame(f, 0, 0)).to.equal(0);
    expect(scanFrame(f, 0, 3)).to.equal(SCAN_INVALID);
    expect(lastScanFlags() & SCAN_FLAG_TRUNCATED).to.not.equal(0);
    expect(scanFrame(hx('01 c1'), 0, 2)).to.equal(SCAN_INVALID);
    expect(lastScanFlags() & SCAN_FLAG_TRUNCATED).to.equal(0);
  });
});

describe('protocol/codec decodeFrame', () => {
  it('delivers a request and a notification', () => {
    expect(run(hx('94 00 01 a4 6563686f 91 a2 6869'))).to.deep.equal({
      calls: [['request', 1, 'echo', ['hi']]],
      err: null,
    });
    expect(run(hx('93 02 a1 6e 92 01 c0'))).to.deep.equal({
      calls: [['notification', 'n', [1, null]]],
      err: null,
    });
  });

  it('delivers several messages of one frame in order', () => {
    const frame = Buffer.concat([
      encodeRequest(1, 'a', [1]),
      encodeNotification('b', []),
      encodeRequest(4294967295, 'c', [{ x: 'y' }]),
      hx('93 00 09 a1 64'), // readable msgid, 3 elements -> invalid
      encodeRequest(2, 'e', []),
    ]);
    const { calls, err } = run(frame);
    expect(err).to.equal(null);
    expect(calls.map((c) => c.slice(0, 3))).to.deep.equal([
      ['request', 1, 'a'],
      ['notification', 'b', []],
      ['request', 4294967295, 'c'],
      ['invalid', 9, 'a request has 4 elements'],
      ['request', 2, 'e'],
    ]);
    expect(calls[2][3]).to.deep.equal([{ x: 'y' }]);
  });

  it('reads msgid 5 whatever its integer encoding', () => {
    for (const id of ['05', 'cc 05', 'cd 0005', 'ce 00000005', 'cf 0000000000000005', 'd0 05', 'd1 0005', 'd2 00000005', 'd3 0000000000000005']) {
      expect(run(reqWithId(id)).calls, id).to.deep.equal([['request', 5, 'm', []]]);
    }
  });

  it('accepts msgid 2^32-1 and closes 1002 for 2^32, negatives and huge uint64', () => {
    expect(run(reqWithId('ce ffffffff')).calls).to.deep.equal([['request', 4294967295, 'm', []]]);
    expect(run(reqWithId('cf 00000000ffffffff')).calls).to.deep.equal([['request', 4294967295, 'm', []]]);
    for (const id of ['cf 0000000100000000', 'cf ffffffffffffffff', 'd3 ffffffffffffffff', 'ff', 'd0 80', 'd2 80000000']) {
      const r = run(reqWithId(id));
      expect(r.calls, id).to.deep.equal([]);
      expect(r.err, id).to.deep.equal({ close: 1002, reason: 'request msgid is not a uint32' });
    }
  });

  it('closes 1002 for fractional or non-finite float msgids; an integral float (1.0) is read as 1', () => {
    for (const id of ['cb 3ff8000000000000', 'ca 3fc00000', 'cb 7ff8000000000000', 'cb 7ff0000000000000', 'cb 41f0000000000000']) {
      // 1.5 (f64), 1.5 (f32), NaN, Infinity, 2^32
      expect(run(reqWithId(id)).err?.close, id).to.equal(1002);
    }
    // Documented choice: the msgid rule is by value, so 1.0 (float64 or float32) is msgid 1.
    expect(run(reqWithId('cb 3ff0000000000000')).calls).to.deep.equal([['request', 1, 'm', []]]);
    expect(run(reqWithId('ca 3f800000')).calls).to.deep.equal([['request', 1, 'm', []]]);
    // -0.0 is msgid 0 (and is answered as +0)
    const neg0 = run(reqWithId('cb 8000000000000000')).calls[0];
    expect(Object.is(neg0[1], 0)).to.equal(true);
  });

  it('answers INVALID_REQUEST for readable-msgid requests that are malformed', () => {
    const cases: Array<[string, string]> = [
      ['93 00 07 a1 6d', 'a request has 4 elements'],
      ['92 00 07', 'a request has 4 elements'],
      ['95 00 07 a1 6d 90 c0', 'a request has 4 elements'],
      ['94 00 07 01 90', 'method must be a string'],
      ['94 00 07 c0 90', 'method must be a string'],
      ['94 00 07 c4 01 6d 90', 'method must be a string'],
      ['94 00 07 a1 6d 80', 'params must be an array'],
      ['94 00 07 a1 6d c0', 'params must be an array'],
      ['94 00 07 a1 6d a0', 'params must be an array'],
    ];
    for (const [h, reason] of cases) {
      expect(run(hx(h)), h).to.deep.equal({ calls: [['invalid', 7, reason]], err: null });
    }
  });

  it('closes 1002 for valid MessagePack that is not a request or notification', () => {
    const cases: Array<[string, string]> = [
      ['01', 'message is not an array'],
      ['a1 61', 'message is not an array'],
      ['81 a1 61 01', 'message is not an array'],
      ['c0', 'message is not an array'],
      ['90', 'unknown message type'],
      ['94 01 01 c0 c0', 'responses are not accepted'],
      ['94 03 01 a1 6d 90', 'unknown message type'],
      ['94 a1 30 01 a1 6d 90', 'unknown message type'],
      ['91 00', 'request msgid is not a uint32'],
      ['94 00 a1 31 a1 6d 90', 'request msgid is not a uint32'],
      ['94 00 c0 a1 6d 90', 'request msgid is not a uint32'],
      ['92 02 a1 6d', 'malformed notification'],
      ['93 02 01 90', 'malformed notification'],
      ['93 02 a1 6d 80', 'malformed notification'],
      ['94 02 a1 6d 90 c0', 'malformed notification'],
    ];
    for (const [h, reason] of cases) {
      expect(run(hx(h)), h).to.deep.equal({ calls: [], err: { close: 1002, reason } });
    }
  });

  it('delivers the messages before a 1002 one, and none after it', () => {
    const frame = Buffer.concat([encodeRequest(1, 'a', []), hx('01'), encodeRequest(2, 'b', [])]);
    const r = run(frame);
    expect(r.calls).to.deep.equal([['request', 1, 'a', []]]);
    expect(r.err).to.deep.equal({ close: 1002, reason: 'message is not an array' });
  });

  it('closes 1002 for ASCII text (it is valid MessagePack: positive fixints) and 1007 for non-MessagePack bytes', () => {
    expect(run(Buffer.from('{"jsonrpc":"2.0","id":1}')).err).to.deep.equal({ close: 1002, reason: 'message is not an array' });
    for (const h of ['c1', 'ff c1', '94 00 01 a1 6d 91 c1', 'd4 00 00']) {
      expect(run(hx(h)).err?.close, h).to.equal(1007);
    }
    // UTF-8 text: "é" is c3 a9 -> true, then a fixstr of 9 bytes that isn't there
    expect(run(Buffer.from('héllo', 'utf8')).err).to.deep.equal({ close: 1007, reason: 'truncated MessagePack message' });
  });

  it('closes 1007 for every truncation of a request, delivering nothing', () => {
    const full = encodeRequest(123456, 'echo', [{ a: [1, 2.5, 'x'], b: Buffer.from([1, 2, 3]) }, 'str', 7e9]);
    expect(run(full).calls).to.have.length(1);
    for (let i = 1; i < full.length; i++) {
      expect(run(full.subarray(0, i)), `prefix ${i}`).to.deep.equal({
        calls: [],
        err: { close: 1007, reason: 'truncated MessagePack message' },
      });
    }
  });

  it('validates the whole frame first: a bad last message means no message is delivered', () => {
    const good = encodeRequest(1, 'a', []);
    for (const bad of [hx('94 00 02 a1 6d'), hx('94 00 02 a1 6d 91 c1'), hx('d6 ff 00000000')]) {
      const r = run(Buffer.concat([good, good, bad]));
      expect(r.calls).to.deep.equal([]);
      expect(r.err?.close).to.equal(1007);
    }
  });

  it('closes 1007 for an empty frame', () => {
    expect(run(Buffer.alloc(0)).err).to.deep.equal({ close: 1007, reason: 'empty frame' });
  });

  describe('extension types, all 1007', () => {
    const fixtures: Array<[string, Buffer]> = [
      ['fixext 1', hx('d4 01 00')],
      ['fixext 2', hx('d5 01 0000')],
      ['fixext 4 / timestamp32', hx('d6 ff 00000000')],
      ['fixext 8', hx('d7 01 0000000000000000')],
      ['fixext 16', hx('d8 01' + '00'.repeat(16))],
      ['ext 8', hx('c7 01 01 00')],
      ['ext 16', hx('c8 0001 01 00')],
      ['ext 32', hx('c9 00000001 01 00')],
      // msgpackr's own types, as msgpackr 2.1.4 writes them
      ['msgpackr RegExp 0x78', hx('d4 78 00 92 a1 78 a1 67')],
      ['msgpackr Error 0x65', hx('d4 65 00 93 a5 4572726f72 a1 65 d4 00 00')],
      ['msgpackr record 0x72', hx('d4 72 40 91 a1 61 01')],
      ['msgpackr bundled strings 0x62', hx('d4 72 40 91 a1 61 d6 62 00000006 c1 05 a0 a5 68656c6c6f')],
      ['msgpackr typed array 0x74', hx('c7 03 74 03 01 00')],
      ['msgpackr Set 0x73', hx('d4 73 00 91 01')],
    ];
    for (const [name, bytes] of fixtures) {
      it(name, () => {
        expect(run(reqWithParam(bytes))).to.deep.equal({
          calls: [],
          err: { close: 1007, reason: 'invalid MessagePack: reserved byte 0xc1, extension type or nesting deeper than 64' },
        });
      });
    }

    it('the msgpackr fixtures are what msgpackr emits and accepts', () => {
      // records + bundled strings from default-ish options, typed arrays / RegExp / Error with moreTypes
      expect(new Packr().pack({ a: 1 }).subarray(0, 3)).to.deep.equal(hx('d4 72 40'));
      expect(new Packr({ bundleStrings: true }).pack({ a: 'hello' })).to.deep.equal(fixtures[11][1]);
      const more = new Packr({ useRecords: false, moreTypes: true });
      expect(more.pack(/x/g)).to.deep.equal(fixtures[8][1]);
      expect(more.pack(new Int16Array([1]))).to.deep.equal(fixtures[12][1]);
      expect(unpack(fixtures[8][1])).to.be.instanceOf(RegExp);
      expect(unpack(fixtures[9][1])).to.be.instanceOf(Error);
    });
  });

  it('closes 1007 for 0xc1 anywhere', () => {
    expect(run(hx('c1')).err?.close).to.equal(1007);
    expect(run(reqWithParam('c1')).err?.close).to.equal(1007);
    expect(run(hx('94 00 01 a1 6d 91 81 c1 01')).err?.close).to.equal(1007);
  });

  it('accepts nesting of exactly 64 levels and closes 1007 at 65', () => {
    // envelope (1) > params (2) > 62 more levels = 64
    const at64 = reqWithParam(nestedArrays(62));
    const r = run(at64);
    expect(r.err).to.equal(null);
    let v: unknown = r.calls[0][3];
    let depth = 1; // the envelope
    while (Array.isArray(v)) {
      depth++;
      v = v[0];
    }
    expect(depth).to.equal(64);
    expect(run(reqWithParam(nestedArrays(63))).err?.close).to.equal(1007);
    // maps count as levels too
    const maps63 = Buffer.concat([Buffer.from('81a0'.repeat(62), 'hex'), hx('80')]);
    expect(run(reqWithParam(maps63.subarray(2))).err).to.equal(null);
    expect(run(reqWithParam(maps63)).err?.close).to.equal(1007);
  });

  it('closes 1007 for 4,500 and 1,000,000 levels of nesting without overflowing the stack', () => {
    expect(run(nestedArrays(4500)).err?.close).to.equal(1007);
    expect(run(Buffer.alloc(1_000_000, 0x91)).err?.close).to.equal(1007);
    expect(run(reqWithParam(Buffer.alloc(4500, 0x81))).err?.close).to.equal(1007);
  });

  it('fails fast on huge declared lengths', () => {
    for (const h of ['db ffffffff', 'c6 ffffffff', 'dd ffffffff', 'df ffffffff', 'dc ffff', 'de ffff', 'da ffff 61']) {
      const t = process.hrtime.bigint();
      expect(run(reqWithParam(h)).err?.close, h).to.equal(1007);
      expect(Number(process.hrtime.bigint() - t) / 1e6, h).to.be.below(50);
    }
  });

  describe('map keys', () => {
    it('keeps a "__proto__" key as an own property and never touches a prototype', () => {
      // [0, 1, "m", [{"__proto__": {"polluted": true}}]]
      const r = run(reqWithParam('81 a9 5f5f70726f746f5f5f 81 a8 706f6c6c75746564 c3'));
      expect(r.err).to.equal(null);
      const p = (r.calls[0][3] as unknown[])[0] as Record<string, unknown>;
      expect(Object.getPrototypeOf(p)).to.equal(Object.prototype);
      expect(Object.keys(p)).to.deep.equal(['__proto__']);
      expect(Object.getOwnPropertyDescriptor(p, '__proto__')?.value).to.deep.equal({ polluted: true });
      expect((p as { polluted?: unknown }).polluted).to.equal(undefined);
      expect(({} as { polluted?: unknown }).polluted).to.equal(undefined);
      // and it goes back out unchanged (echo)
      expect(encodeResult(1, p).subarray(4)).to.deep.equal(hx('de 0001 a9 5f5f70726f746f5f5f de 0001 a8 706f6c6c75746564 c3'));
    });

    it('handles "__proto__" as str8, nested, in notifications and in multi-message frames', () => {
      const nested = hx('94 00 03 a1 6d 91 82 a1 61 01 a1 62 81 d9 09 5f5f70726f746f5f5f 02');
      const frame = Buffer.concat([nested, hx('93 02 a1 6e 91 81 a9 5f5f70726f746f5f5f 90'), encodeRequest(4, 'x', [{ k: 1 }])]);
      const { calls, err } = run(frame);
      expect(err).to.equal(null);
      const b = ((calls[0][3] as unknown[])[0] as { b: object }).b;
      expect(Object.getPrototypeOf(b)).to.equal(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(b, '__proto__')?.value).to.equal(2);
      const n = (calls[1][2] as unknown[])[0] as object;
      expect(Object.getOwnPropertyDescriptor(n, '__proto__')?.value).to.deep.equal([]);
      expect(Array.isArray(Object.getPrototypeOf(n))).to.equal(false);
      expect(calls[2]).to.deep.equal(['request', 4, 'x', [{ k: 1 }]]);
    });

    it('keeps "constructor", "toString", "hasOwnProperty" and "toJSON" keys as plain data that encodes back', () => {
      const params = [{ constructor: 1, toString: 'x', hasOwnProperty: null, toJSON: 2 }];
      const r = run(encodeRequest(1, 'm', params));
      expect(r.calls).to.deep.equal([['request', 1, 'm', params]]);
      const out = decodeAny(encodeResult(1, (r.calls[0][3] as unknown[])[0]))[0];
      expect(out).to.deep.equal([1, 1, null, params[0]]);
    });

    it('turns scalar keys into strings as JS property access does', () => {
      // {1: "a", nil: "b", true: "c", 1.5: "d"}
      const r = run(reqWithParam('84 01 a1 61 c0 a1 62 c3 a1 63 cb 3ff8000000000000 a1 64'));
      expect(r.calls).to.deep.equal([['request', 1, 'm', [{ '1': 'a', null: 'b', true: 'c', '1.5': 'd' }]]]);
    });

    it('answers INVALID_REQUEST for array, map or bin keys in a request, 1002 in a notification', () => {
      for (const key of ['91 01', '80', 'c4 01 00']) {
        expect(run(hx(`94 00 08 a1 6d 91 81 ${key} 01`)), key).to.deep.equal({
          calls: [['invalid', 8, 'map keys must be strings or numbers']],
          err: null,
        });
        expect(run(hx(`93 02 a1 6e 91 81 ${key} 01`)).err?.close, key).to.equal(1002);
      }
    });
  });

  describe('bin values', () => {
    it('are copies: mutating or detaching the input changes nothing', () => {
      const frame = encodeRequest(1, 'm', [Buffer.from([1, 2, 3]), { b: new Uint8Array([4, 5]) }]);
      const ab = new ArrayBuffer(frame.length);
      const input = new Uint8Array(ab);
      input.set(frame);
      const { calls } = run(input);
      const params = calls[0][3] as [Buffer, { b: Buffer }];
      expect(Buffer.isBuffer(params[0])).to.equal(true);
      expect(params[0].buffer).to.not.equal(ab);
      input.fill(0xee);
      structuredClone(ab, { transfer: [ab] }); // detach, as uWebSockets.js does
      expect(ab.byteLength).to.equal(0);
      expect([...params[0]]).to.deep.equal([1, 2, 3]);
      expect([...params[1].b]).to.deep.equal([4, 5]);
    });

    it('are copies in multi-message frames too', () => {
      const frame = Buffer.concat([encodeRequest(1, 'm', [Buffer.from([9])]), encodeNotification('n', [Buffer.from([8, 7])])]);
      const { calls } = run(frame);
      frame.fill(0);
      expect(calls[0][3]).to.deep.equal([Buffer.from([9])]);
      expect(calls[1][2]).to.deep.equal([Buffer.from([8, 7])]);
    });
  });

  it('decodes uint64/int64 as numbers up to 2^53 and BigInt beyond', () => {
    const r = run(reqWithParam('94 cf 0000000000000005 d3 fffffffffffffffb cf 0020000000000001 d3 ffdfffffffffffff'));
    expect(r.calls[0][3]).to.deep.equal([[5, -5, 2n ** 53n + 1n, -(2n ** 53n) - 1n]]);
  });

  it('is reentrant: a sink may decode another frame while being called', () => {
    const seen: string[] = [];
    const inner: FrameSink = {
      request: (id, m) => seen.push(`inner ${id} ${m}`),
      notification: () => undefined,
      invalid: () => undefined,
    };
    const outer: FrameSink = {
      request: (id, m) => {
        seen.push(`outer ${id} ${m}`);
        expect(decodeFrame(Buffer.concat([encodeRequest(100 + id, 'i', []), encodeRequest(200 + id, 'j', [])]), inner)).to.equal(null);
      },
      notification: () => undefined,
      invalid: () => undefined,
    };
    const frame = Buffer.concat([encodeRequest(1, 'a', []), encodeRequest(2, 'b', []), encodeRequest(3, 'c', [])]);
    expect(decodeFrame(frame, outer)).to.equal(null);
    expect(seen).to.deep.equal([
      'outer 1 a', 'inner 101 i', 'inner 201 j',
      'outer 2 b', 'inner 102 i', 'inner 202 j',
      'outer 3 c', 'inner 103 i', 'inner 203 j',
    ]);
  });

  it('lets a sink exception propagate and stays usable afterwards', () => {
    const boom: FrameSink = {
      request: () => {
        throw new Error('sink failed');
      },
      notification: () => undefined,
      invalid: () => undefined,
    };
    const frame = Buffer.concat([encodeRequest(1, 'a', []), encodeRequest(2, 'b', [])]);
    expect(() => decodeFrame(frame, boom)).to.throw('sink failed');
    expect(run(frame).calls.map((c) => c[1])).to.deep.equal([1, 2]);
  });
});

describe('protocol/codec encoding', () => {
  it('encodeResult writes [1, msgid, nil, result] with the smallest msgid encoding', () => {
    expect(encodeResult(5, 'x')).to.deep.equal(hx('94 01 05 c0 a1 78'));
    expect(encodeResult(0x7f, null)).to.deep.equal(hx('94 01 7f c0 c0'));
    expect(encodeResult(0x80, true)).to.deep.equal(hx('94 01 cc 80 c0 c3'));
    expect(encodeResult(0xffff, 1)).to.deep.equal(hx('94 01 cd ffff c0 01'));
    expect(encodeResult(0x10000, [])).to.deep.equal(hx('94 01 ce 00010000 c0 90'));
    expect(encodeResult(4294967295, undefined)).to.deep.equal(hx('94 01 ce ffffffff c0 c0'));
  });

  it('writes plain MessagePack (no records) that msgpackr default unpack reads', () => {
    for (let i = 0; i < 3; i++) {
      const out = encodeResult(7, { a: 1, b: [{ a: 2 }] });
      expect(out).to.deep.equal(hx('94 01 07 c0 de 0002 a1 61 01 a1 62 91 de 0001 a1 61 02'));
      expect(unpack(out)).to.deep.equal([1, 7, null, { a: 1, b: [{ a: 2 }] }]);
    }
  });

  it('encodes every integer, number or BigInt, as the smallest MessagePack integer; other numbers as float64', () => {
    expect(encodeResult(1, 2 ** 40).subarray(4)).to.deep.equal(hx('cf 0000010000000000'));
    expect(encodeResult(1, -(2 ** 31) - 1).subarray(4)).to.deep.equal(hx('d3 ffffffff7fffffff'));
    expect(encodeResult(1, 4294967295).subarray(4)).to.deep.equal(hx('ce ffffffff'));
    expect(encodeResult(1, -(2 ** 31)).subarray(4)).to.deep.equal(hx('d2 80000000'));
    expect(encodeResult(1, 1.5).subarray(4)).to.deep.equal(hx('cb 3ff8000000000000'));
    expect(encodeResult(1, 2 ** 64).subarray(4)).to.deep.equal(hx('cb 43f0000000000000'));
    expect(encodeResult(1, 2n ** 40n).subarray(4)).to.deep.equal(hx('cf 0000010000000000'));
    expect(encodeResult(1, 5n).subarray(4)).to.deep.equal(hx('05'));
    expect(encodeResult(1, 2n ** 64n - 1n).subarray(4)).to.deep.equal(hx('cf ffffffffffffffff'));
    expect(encodeResult(1, -(2n ** 63n)).subarray(4)).to.deep.equal(hx('d3 8000000000000000'));
    expect(encodeResult(1, [2 ** 40, -5n, 1.5]).subarray(4)).to.deep.equal(hx('93 cf 0000010000000000 fb cb 3ff8000000000000'));
    expect(decodeAny(encodeResult(1, [2 ** 40, 2n ** 60n]))[0]).to.deep.equal([1, 1, null, [2 ** 40, 2n ** 60n]]);
  });

  it('throws a catchable TypeError for unencodable results and keeps working afterwards', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const loop: unknown[] = [];
    loop.push(loop);
    let deep: unknown = [];
    for (let i = 0; i < 64; i++) deep = [deep]; // 65 levels inside the result, 66 with the envelope
    let deep63: unknown = [];
    for (let i = 0; i < 62; i++) deep63 = [deep63]; // 63 + envelope = 64: fine
    const bad: Array<[string, unknown]> = [
      ['function', () => 1],
      ['nested function', { f: () => 1 }],
      ['symbol', Symbol('s')],
      ['BigInt beyond 64 bits', 2n ** 64n],
      ['negative BigInt beyond 64 bits', -(2n ** 63n) - 1n],
      ['circular object', circular],
      ['circular array', loop],
      ['Date (timestamp extension)', new Date(0)],
      ['too deep', deep],
    ];
    for (const [name, value] of bad) {
      expect(() => encodeResult(1, value), name).to.throw(TypeError, /cannot encode/);
      const ok = encodeResult(2, { still: 'fine' });
      expect(decodeAny(ok), name).to.deep.equal([[1, 2, null, { still: 'fine' }]]);
    }
    expect(decodeAny(encodeResult(3, deep63))[0]).to.deep.equal([1, 3, null, deep63]);
  });

  it('rejects a msgid that is not a uint32', () => {
    for (const id of [-1, 1.5, 2 ** 32, NaN]) {
      expect(() => encodeResult(id, 1), String(id)).to.throw(RangeError);
      expect(() => encodeError(id, { code: ErrorCode.TIMEOUT, message: 't' }), String(id)).to.throw(RangeError);
      expect(() => encodeRequest(id, 'm', []), String(id)).to.throw(RangeError);
    }
  });

  it('returns buffers that stay valid after later encodes (safe to keep and concat)', () => {
    const kept: Buffer[] = [];
    const expected: unknown[] = [];
    for (let i = 0; i < 3000; i++) {
      const value = i % 7 === 0 ? 'x'.repeat(i) : { i, s: 'v' + i };
      kept.push(i % 2 === 0 ? encodeResult(i, value) : encodeError(i, { code: ErrorCode.HANDLER_ERROR, message: 'm' + i }));
      expected.push(i % 2 === 0 ? [1, i, null, value] : [1, i, { code: 'HANDLER_ERROR', message: 'm' + i }, null]);
    }
    expect(decodeAny(Buffer.concat(kept))).to.deep.equal(expected);
  });

  it('encodes results larger than msgpackr\'s 8 KiB slab with every msgid size', () => {
    for (const id of [1, 200, 70000, 4294967295]) {
      for (const n of [8000, 9000, 100_000, 2_000_000]) {
        const out = encodeResult(id, { s: 'y'.repeat(n), b: Buffer.alloc(n, 7) });
        const [env] = decodeAny(out) as [[number, number, null, { s: string; b: Buffer }]];
        expect([env[0], env[1], env[2], env[3].s.length, env[3].b.length], `${id} ${n}`).to.deep.equal([1, id, null, n, n]);
        expect(env[3].b.every((x) => x === 7)).to.equal(true);
      }
    }
  });

  it('encodeError writes [1, msgid, {code, message, data?}, nil], dropping data it cannot encode', () => {
    expect(encodeError(3, { code: ErrorCode.METHOD_NOT_FOUND, message: 'no such method: x' })).to.deep.equal(
      Buffer.concat([hx('94 01 03 de 0002 a4 636f6465 b0'), Buffer.from('METHOD_NOT_FOUND'), hx('a7 6d657373616765 b1'), Buffer.from('no such method: x'), hx('c0')]),
    );
    expect(unpack(encodeError(4, { code: ErrorCode.INVALID_PARAMS, message: 'bad', data: { field: 'a', n: [1] } }))).to.deep.equal([
      1, 4, { code: 'INVALID_PARAMS', message: 'bad', data: { field: 'a', n: [1] } }, null,
    ]);
    expect(decodeAny(encodeError(5, { code: ErrorCode.HANDLER_ERROR, message: 'x', data: () => 1 }))).to.deep.equal([
      [1, 5, { code: 'HANDLER_ERROR', message: 'x' }, null],
    ]);
  });

  it('encodeRequest / encodeNotification round-trip through decodeFrame', () => {
    const params = ['s', 1, -1, 1.25, true, null, Buffer.from([0, 255]), [1, [2]], { k: { v: 'w' } }];
    expect(encodeNotification('n', [])).to.deep.equal(hx('93 02 a1 6e 90'));
    expect(run(Buffer.concat([encodeRequest(42, 'echo', params), encodeNotification('note', params)])).calls).to.deep.equal([
      ['request', 42, 'echo', params],
      ['notification', 'note', params],
    ]);
  });
});

describe('protocol/codec decodeAny', () => {
  it('returns every back-to-back value', () => {
    expect(decodeAny(hx('01 a1 61 92 c0 c3 81 a1 6b cb 3ff8000000000000'))).to.deep.equal([1, 'a', [null, true], { k: 1.5 }]);
    expect(decodeAny(Buffer.alloc(0))).to.deep.equal([]);
  });

  it('throws on what decodeFrame closes with 1007', () => {
    expect(() => decodeAny(hx('01 92 01'))).to.throw(/truncated/);
    expect(() => decodeAny(hx('d6 ff 00000000'))).to.throw(/extension type/);
    expect(() => decodeAny(nestedArrays(65))).to.throw(/nesting/);
  });

  it('applies the same map key rules', () => {
    const [v] = decodeAny(hx('82 a9 5f5f70726f746f5f5f 01 01 02')) as [object];
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')?.value).to.equal(1);
    expect(Object.getOwnPropertyDescriptor(v, '1')?.value).to.equal(2);
    expect(() => decodeAny(hx('81 90 01'))).to.throw(/map keys/);
  });
});
