import { expect } from 'chai';
import { NativeBatch } from '../lib/pubsub/batch';
import { delay, startReactor } from './helpers/client';
import { WsPubClient } from './helpers/pubsub-client';

describe('WebSocket publications handed to uWS once per loop turn (lib/pubsub/batch.ts)', () => {
  it('hands a turn\'s publications over together, in order, after the turn; the bound hands them over at once', async () => {
    const seen: Array<[string, number]> = [];
    const b = new NativeBatch({ publish: (t, f) => void seen.push([t, f[0]!]) }, 1000, 3);
    b.publish('a', Buffer.from([1]));
    b.publish('b', Buffer.from([2]));
    expect(seen).to.deep.equal([]); // waiting for the end of the turn
    await new Promise((r) => setImmediate(r));
    expect(seen).to.deep.equal([['a', 1], ['b', 2]]);
    seen.length = 0;
    for (let i = 0; i < 3; i++) b.publish('c', Buffer.from([i])); // the third reaches maxCount
    expect(seen).to.deep.equal([['c', 0], ['c', 1], ['c', 2]]);
    seen.length = 0;
    b.publish('d', Buffer.alloc(1000, 7)); // maxBytes
    expect(seen).to.deep.equal([['d', 7]]);
    await new Promise((r) => setImmediate(r));
    expect(seen).to.have.length(1); // nothing twice
  });

  it('a connection subscribed in a handler gets nothing published before, in the same turn', async () => {
    const server = await startReactor({}, (r) => {
      r.method('flip', (_p, ctx) => {
        r.pubsub.unsubscribe(ctx.conn, 't');
        r.pubsub.publish('t', 2);
        r.pubsub.subscribe(ctx.conn, 't');
        r.pubsub.publish('t', 3);
        return true;
      });
    });
    try {
      const c = await WsPubClient.connect(server.port);
      const d = await WsPubClient.connect(server.port);
      await c.subscribe('t');
      await d.subscribe('t');
      expect((await c.call('flip', [])).result).to.equal(true);
      await d.waitFor(2);
      await delay(50);
      expect(d.messages.map((m) => m.data)).to.deep.equal([2, 3]);
      expect(c.messages.map((m) => m.data)).to.deep.equal([3]);
      c.close();
      d.close();
    } finally {
      await server.close();
    }
  });
});
