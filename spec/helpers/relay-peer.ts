/**
 * A child process holding one Relay, driven by its parent over IPC (the relay
 * spec runs several of these as the reactors of one server). Frames carry a
 * per-sender sequence number; the child checks order per sender.
 */
import { Relay, type RelayPeer } from '../../lib/pubsub/relay';

type Cmd =
  | { cmd: 'peers'; peers: RelayPeer[] }
  | { cmd: 'publish'; n: number; size: number; batch: number; pauseMs?: number }
  | { cmd: 'stall'; on: boolean }
  | { cmd: 'stats' };

const [selfId, listenPath, maxQueued] = process.argv.slice(2) as [string, string, string];
const seen = new Map<string, { count: number; last: number; backwards: number }>();
let seq = 0;

const relay = new Relay({
  selfId,
  listenPath,
  maxQueuedBytes: Number(maxQueued),
  retryMs: 100,
  onMessage(frame, from) {
    const s = frame.readUInt32BE(0);
    let e = seen.get(from);
    if (e === undefined) seen.set(from, (e = { count: 0, last: -1, backwards: 0 }));
    if (s <= e.last) e.backwards++;
    e.last = s;
    e.count++;
  },
});

function send(m: unknown): void {
  process.send!(m);
}

async function publish(n: number, size: number, batch: number, pauseMs: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const f = Buffer.alloc(size);
    f.writeUInt32BE(seq++, 0);
    relay.publish(f);
    if ((i + 1) % batch === 0) await new Promise((r) => (pauseMs > 0 ? setTimeout(r, pauseMs) : setImmediate(r)));
  }
}

process.on('message', (m: Cmd) => {
  void (async () => {
    if (m.cmd === 'peers') relay.setPeers(m.peers);
    else if (m.cmd === 'publish') await publish(m.n, m.size, m.batch, m.pauseMs ?? 0);
    else if (m.cmd === 'stall') relay.stall(m.on);
    send({ ok: m.cmd, seen: Object.fromEntries(seen), drops: relay.drops, peers: relay.peers });
  })();
});

relay.listen().then(() => send({ ok: 'ready' }), (e: Error) => send({ error: e.message }));
