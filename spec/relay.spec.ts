import { expect } from 'chai';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { delay } from './helpers/client';

interface Reply {
  ok: string;
  seen: Record<string, { count: number; last: number; backwards: number }>;
  drops: { slow: number; down: number; stale: number };
  peers: string[];
}

/** One reactor-like child process with a Relay on a real unix socket. */
class Peer {
  private waiting: Array<(r: Reply) => void> = [];
  readonly exited: Promise<void>;
  private constructor(
    readonly id: string,
    readonly path: string,
    readonly proc: ChildProcess,
  ) {
    proc.on('message', (m: Reply) => this.waiting.shift()?.(m));
    this.exited = new Promise((r) => proc.on('exit', () => r()));
  }

  static async start(dir: string, id: string, maxQueued: number): Promise<Peer> {
    const p = path.join(dir, `${id}.sock`);
    const proc = fork(path.join(__dirname, 'helpers', 'relay-peer.js'), [id, p, String(maxQueued)], { stdio: 'ignore' });
    const peer = new Peer(id, p, proc);
    const r = await new Promise<Reply>((res) => peer.waiting.push(res));
    if (r.ok !== 'ready') throw new Error(`peer ${id} failed: ${JSON.stringify(r)}`);
    return peer;
  }

  send(m: object): Promise<Reply> {
    return new Promise((res) => {
      this.waiting.push(res);
      this.proc.send(m);
    });
  }
}

describe('the relay between reactor processes (unix sockets, real child processes)', function () {
  this.timeout(30000);
  let dir: string;
  let peers: Peer[] = [];
  const start = async (ids: string[], maxQueued: number): Promise<Peer[]> => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ringloop-relay-'));
    peers = await Promise.all(ids.map((id) => Peer.start(dir, id, maxQueued)));
    const list = peers.map((p) => ({ id: p.id, path: p.path }));
    for (const p of peers) await p.send({ cmd: 'peers', peers: list });
    return peers;
  };
  const stats = (p: Peer): Promise<Reply> => p.send({ cmd: 'stats' });
  const settle = async (p: Peer, from: string, count: number): Promise<Reply> => {
    const deadline = Date.now() + 10000;
    for (;;) {
      const r = await stats(p);
      if ((r.seen[from]?.count ?? 0) >= count || Date.now() > deadline) return r;
      await delay(20);
    }
  };

  afterEach(async () => {
    for (const p of peers) p.proc.kill('SIGKILL');
    await Promise.all(peers.map((p) => p.exited));
  });

  it('delivers every frame of every reactor to every other reactor, in order per sender', async () => {
    const [a, b, c] = await start(['a', 'b', 'c'], 8 * 1024 * 1024);
    await Promise.all([a!, b!, c!].map((p) => p.send({ cmd: 'publish', n: 3000, size: 100, batch: 64 })));
    for (const [p, others] of [[a, ['b', 'c']], [b, ['a', 'c']], [c, ['a', 'b']]] as const) {
      for (const o of others) {
        const r = await settle(p!, o, 3000);
        expect(r.seen[o], `${p!.id} from ${o}`).to.deep.equal({ count: 3000, last: 2999, backwards: 0 });
      }
      expect((await stats(p!)).seen[p!.id]).to.equal(undefined); // never to itself
    }
    for (const p of [a!, b!, c!]) expect((await stats(p)).drops).to.deep.equal({ slow: 0, down: 0, stale: 0 });
  });

  it('cuts a reactor that cannot keep up, counts what it missed, and reconnects it; the others get everything', async () => {
    const bound = 1024 * 1024;
    const [a, b, c] = await start(['a', 'b', 'c'], bound);
    await c!.send({ cmd: 'stall', on: true });
    const n = 600;
    // ~10 MB at a pace a live reactor keeps up with (64 KiB every 2 ms); c reads nothing.
    const sent = await a!.send({ cmd: 'publish', n, size: 16 * 1024, batch: 4, pauseMs: 2 });
    expect(sent.drops.slow).to.be.above(0);
    expect((await settle(b!, 'a', n)).seen.a).to.deep.equal({ count: n, last: n - 1, backwards: 0 });
    await c!.send({ cmd: 'stall', on: false });
    await delay(300); // past retryMs: the link to c is back
    await a!.send({ cmd: 'publish', n: 10, size: 100, batch: 10 });
    const r = await settle(c!, 'a', 1); // what c got: in order, fewer than sent, the last 10 included
    const gotC = (await stats(c!)).seen.a!;
    expect(gotC.backwards).to.equal(0);
    expect(gotC.last).to.equal(n + 9);
    const dropped = (await stats(a!)).drops;
    const stale = (await stats(c!)).drops.stale; // a cut stream's leftovers that arrived after newer frames
    expect(gotC.count + dropped.slow + dropped.down + stale).to.equal(n + 10); // every frame delivered or counted
    expect(r.seen.a!.count).to.be.below(n);
  });

  it('counts frames for a reactor that died, and stops once the peer list drops it', async () => {
    const [a, b, c] = await start(['a', 'b', 'c'], 8 * 1024 * 1024);
    b!.proc.kill('SIGKILL');
    await b!.exited;
    await delay(100);
    const r1 = await a!.send({ cmd: 'publish', n: 20, size: 100, batch: 20 });
    expect(r1.drops.down).to.equal(20);
    await a!.send({ cmd: 'peers', peers: [a!, c!].map((p) => ({ id: p.id, path: p.path })) });
    const r2 = await a!.send({ cmd: 'publish', n: 20, size: 100, batch: 20 });
    expect(r2.drops.down).to.equal(20);
    expect(r2.peers).to.deep.equal(['c']);
    expect((await settle(c!, 'a', 40)).seen.a).to.deep.equal({ count: 40, last: 39, backwards: 0 });
  });
});
