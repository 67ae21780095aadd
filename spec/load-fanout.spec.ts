import { expect } from 'chai';
import { runCli, startReactor } from './helpers/client';

describe('ringloop load --fanout', function () {
  this.timeout(20000);

  it('reports deliveries, latency, and no missing or out-of-order messages against a live server', async () => {
    const srv = await startReactor();
    try {
      const r = await runCli(['load', '--fanout', '--json', '--url', srv.url, '--subscribers', '5', '--rate', '200', '--size', '100', '--duration', '0.5', '--warmup', '0.2'], {}, 15000);
      expect(r.code, r.stderr).to.equal(0);
      const rep = JSON.parse(r.stdout) as { published: number; deliveriesPerS: number; missing: number; outOfOrder: number; latency: { count: number; p50: number } };
      expect(rep.published).to.be.within(120, 150);
      expect(rep.missing).to.equal(0);
      expect(rep.outOfOrder).to.equal(0);
      expect(rep.latency.count).to.be.above(400);
      expect(rep.deliveriesPerS).to.be.within(800, 1200); // 200/s to 5 subscribers
    } finally {
      await srv.close();
    }
  });

  it('--rate max publishes in whole bursts as fast as the server delivers, checks every delivery, samples latency', async () => {
    const srv = await startReactor();
    try {
      const args = ['--subscribers', '4', '--rate', 'max', '--burst', '4', '--window', '16', '--sample', '8', '--size', '64', '--duration', '0.5', '--warmup', '0.2'];
      const r = await runCli(['load', '--fanout', '--json', '--url', srv.url, ...args], {}, 15000);
      expect(r.code, r.stderr).to.equal(0);
      const rep = JSON.parse(r.stdout) as { rate: number; published: number; publishedPerS: number; deliveriesPerS: number; missing: number; outOfOrder: number; latency: { count: number } };
      expect(rep.rate).to.equal(0);
      expect(rep.published).to.be.above(100); // far beyond the window: the loop is closed by deliveries
      expect(rep.published % 4).to.equal(0);
      expect(rep.missing).to.equal(0);
      expect(rep.outOfOrder).to.equal(0);
      expect(rep.deliveriesPerS).to.be.closeTo(rep.publishedPerS * 4, rep.publishedPerS * 0.5);
      // Only every 8th publication's deliveries are timed.
      expect(rep.latency.count).to.be.above(0);
      expect(rep.latency.count).to.be.at.most(Math.ceil(rep.published / 8) * 4);
    } finally {
      await srv.close();
    }
  });

  it('--group-by splits latency between subscribers answering like the publisher and the others', async () => {
    let n = 0;
    // Connections 1..4 are the subscribers, 5 the publisher: 2 and 4 answer "odd one out".
    const srv = await startReactor({}, (r) => r.method('side', () => (++n % 2 === 0 ? 'b' : 'a')));
    try {
      const r = await runCli(['load', '--fanout', '--json', '--url', srv.url, '--subscribers', '4', '--rate', '200', '--duration', '0.3', '--warmup', '0.1', '--group-by', 'side'], {}, 15000);
      expect(r.code, r.stderr).to.equal(0);
      const g = (JSON.parse(r.stdout) as { groups: { same: { subscribers: number; count: number }; other: { subscribers: number; count: number } } }).groups;
      expect([g.same.subscribers, g.other.subscribers]).to.deep.equal([2, 2]);
      expect(g.same.count).to.be.above(0);
      expect(g.other.count).to.be.above(0);
    } finally {
      await srv.close();
    }
  });

  it('counts what a server never delivers as missing', async () => {
    // A server whose publish delivers nothing to others: every publication is missing for every subscriber.
    const srv = await startReactor({}, (r) => r.pubsub.authorize(({ action }) => action === 'subscribe'));
    try {
      const r = await runCli(['load', '--fanout', '--json', '--url', srv.url, '--subscribers', '3', '--rate', '100', '--size', '64', '--duration', '0.3', '--warmup', '0', '--grace', '0.2'], {}, 15000);
      expect(r.code, r.stderr).to.equal(0);
      const rep = JSON.parse(r.stdout) as { published: number; missing: number; deliveriesPerS: number };
      expect(rep.published).to.be.above(20);
      expect(rep.missing).to.equal(rep.published * 3);
      expect(rep.deliveriesPerS).to.equal(0);
    } finally {
      await srv.close();
    }
  });

  it('refuses bad options with a one-line error', async () => {
    const r = await runCli(['load', '--fanout', '--url', 'ws://127.0.0.1:1', '--size', '4']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--size must be/);
    const t = await runCli(['load', '--fanout', '--url', 'ws://127.0.0.1:1', '--topic', 'a.*']);
    expect(t.code).to.equal(2);
    expect(t.stderr).to.match(/--topic/);
    const b = await runCli(['load', '--fanout', '--url', 'ws://127.0.0.1:1', '--rate', 'fast']);
    expect(b.code).to.equal(2);
    expect(b.stderr).to.match(/--rate must be/);
  });
});
