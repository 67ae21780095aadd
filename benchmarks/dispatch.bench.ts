/**
 * Dispatch cost per message (benchmark.js): a whole reactor turn for one
 * inbound frame, in process and without sockets — the transport callback
 * `reactor.frame(conn, bytes)`: validation and decoding, method lookup, the
 * call, encoding the answer, metrics, and the flush into the connection's
 * transport (here a stub that only counts bytes). Compared with the codec
 * alone (decodeFrame + encodeResult) so the dispatcher's own share shows.
 *
 *   npx tsc -p tsconfig.json && node dist/benchmarks/dispatch.bench.js [--quick]
 *
 * Writes benchmarks/results/dispatch-<date>[-quick].json.
 */
import { BaseConnection } from '../lib/reactor/connection';
import { createReactor } from '../lib/server/reactor';
import { demoPlugin } from '../lib/plugins/demo';
import { decodeFrame, encodeRequest, encodeResult, type FrameSink } from '../lib/protocol/codec';
import { runMicro, type MicroCase } from './micro';

/** A connection whose transport only counts what it is given. */
class StubConnection extends BaseConnection {
  sentBytes = 0;
  sends = 0;
  protected transportSend(bytes: Uint8Array): boolean {
    this.sentBytes += bytes.length;
    this.sends++;
    return false;
  }
  protected transportClose(): void {
    this.open = false;
  }
  protected transportAbort(): void {}
  bufferedAmount(): number {
    return 0;
  }
}

async function main(): Promise<void> {
  const reactor = createReactor({ logLevel: 'silent', port: 0 });
  await reactor.register(demoPlugin, undefined);
  const conn = new StubConnection(reactor, 'ws', '127.0.0.1', Date.now());
  reactor.connectionOpened(conn);

  const PAYLOAD = 'hello, ringloop';
  const echo1 = Buffer.from(encodeRequest(1, 'echo', [PAYLOAD]));
  const echo16 = Buffer.concat(Array.from({ length: 16 }, (_, i) => encodeRequest(i + 1, 'echo', [PAYLOAD])));
  const add1 = Buffer.from(encodeRequest(2, 'add', [20, 22]));
  const missing1 = Buffer.from(encodeRequest(3, 'no_such_method', [PAYLOAD]));

  let params: unknown[] = [];
  let sinkValue: unknown;
  const sink: FrameSink = {
    request(_id, _m, p) {
      params = p;
    },
    notification() {},
    invalid() {},
  };

  const G = 'one frame in, answers out';
  const cases: MicroCase[] = [
    { group: G, name: 'reactor.frame: 1 echo request', fn: () => reactor.frame(conn, echo1) },
    { group: G, name: 'reactor.frame: 16 echo requests in one frame', perOp: 16, fn: () => reactor.frame(conn, echo16) },
    { group: G, name: 'reactor.frame: 1 add request', fn: () => reactor.frame(conn, add1) },
    { group: G, name: 'reactor.frame: 1 unknown method', fn: () => reactor.frame(conn, missing1) },
    {
      group: G,
      name: 'codec only: decodeFrame + encodeResult, 1 echo',
      fn: () => {
        decodeFrame(echo1, sink);
        sinkValue = encodeResult(1, params[0]);
      },
    },
  ];
  const results = runMicro(
    {
      name: 'dispatch',
      quick: process.argv.includes('--quick'),
      description:
        'reactor.frame(conn, bytes) on an in-process reactor with the demo plugin and a stub transport: decode + validate, ' +
        'dispatch, sync method, encode, metrics, flush; vs the codec alone',
    },
    cases,
  );
  if (conn.sends === 0 || sinkValue === undefined) throw new Error('benchmark did nothing');
  const full = results.find((r) => r.name === 'reactor.frame: 1 echo request');
  const codec = results.find((r) => r.name.startsWith('codec only'));
  if (full && codec) {
    console.log(`dispatcher + reactor share of one echo: ${Math.round(full.nsPerMessage - codec.nsPerMessage)} ns per message`);
  }
  await reactor.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
