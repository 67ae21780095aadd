import { BaseConnection } from '../lib/reactor/connection';
import { createReactor } from '../lib/reactor/reactor';
import { demoPlugin } from '../lib/plugins/demo';
import { encodeRequest } from '../lib/protocol/codec';
class StubConnection extends BaseConnection {
  n = 0;
  protected transportSend(bytes: Uint8Array): boolean { this.n += bytes.length; return false; }
  protected transportClose(): void { this.open = false; }
  bufferedAmount(): number { return 0; }
}
async function main(): Promise<void> {
  const reactor = createReactor({ logLevel: 'silent', port: 0 });
  await reactor.register(demoPlugin, undefined);
  const conn = new StubConnection(reactor, 'ws', '127.0.0.1', Date.now());
  reactor.connectionOpened(conn);
  const e = encodeRequest(7, 'echo', ['x'.repeat(32)]);
  const ab = e.buffer.slice(e.byteOffset, e.byteOffset + e.length);
  for (let r = 0; r < 5; r++) {
    const N = 3e6;
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) reactor.frame(conn, Buffer.from(ab));
    console.log('ns/frame', (Number(process.hrtime.bigint() - t) / N).toFixed(1));
  }
  process.exit(0);
}
void main();
