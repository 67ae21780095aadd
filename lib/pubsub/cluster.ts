/**
 * Wiring of the reactor relay under `ringloop serve` (lib/server): each
 * reactor process listens on its own unix socket and tells the supervisor;
 * the supervisor keeps the list of live reactors (every generation: a
 * retiring reactor's subscribers still get messages) and sends it to all of
 * them whenever it changes. All reactors of one server share one server id,
 * so NATS never hands a server its own publication back.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Relay, RelayPeer } from './relay';
import type { PubSub } from './pubsub';
import { serverId } from './nats';

/** Supervisor side: the live reactors' relay sockets. */
export class RelayDirectory {
  private readonly peers = new Map<number, RelayPeer>();
  readonly dir: string;

  constructor(private readonly broadcast: (peers: RelayPeer[]) => void) {
    serverId(); // set in the environment before any reactor is forked: they inherit it
    removeStaleDirs();
    this.dir = path.join(os.tmpdir(), `ringloop-relay-${process.pid}`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    process.env.RINGLOOP_RELAY_DIR = this.dir;
    process.once('exit', () => rmSync(this.dir, { recursive: true, force: true }));
  }

  /** A reactor process (cluster worker `key`) listens on `peer.path`. */
  joined(key: number, peer: RelayPeer): void {
    this.peers.set(key, peer);
    this.broadcast(this.list());
  }

  /** That reactor process is gone. */
  left(key: number): void {
    if (this.peers.delete(key)) this.broadcast(this.list());
  }

  list(): RelayPeer[] {
    return [...this.peers.values()];
  }
}

/** Relay directories of servers that were killed (SIGKILL skips the exit hook): removed when their pid is gone. */
function removeStaleDirs(): void {
  let names: string[];
  try {
    names = readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^ringloop-relay-(\d+)$/.exec(name);
    if (m === null || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0); // still running: not ours to touch
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** Reactor side: joins the relay; returns what to announce to the supervisor, or null outside `ringloop serve`. */
export async function joinRelay(pubsub: PubSub): Promise<{ relay: Relay; peer: RelayPeer } | null> {
  const dir = process.env.RINGLOOP_RELAY_DIR;
  if (dir === undefined) return null;
  const id = String(process.pid);
  const listenPath = path.join(dir, `${id}.sock`);
  const relay = await pubsub.startRelay({ selfId: id, listenPath });
  return { relay, peer: { id, path: listenPath } };
}
