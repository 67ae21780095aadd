/**
 * The reactor processes of one server, as each reactor sees its siblings: a
 * unix-socket path per reactor for whatever they exchange directly (the
 * pub/sub relay), and the live set, pushed by the supervisor whenever a
 * reactor starts listening, retires or dies. Embedded reactors have none.
 */

export interface PeerInfo {
  /** Stable for the process's life: `g<generation>r<index>p<pid>`. */
  id: string;
  /** Where that reactor listens for its siblings (a unix socket it creates). */
  path: string;
}

export class PeerDirectory {
  private listeners: Array<(peers: readonly PeerInfo[]) => void> = [];
  private current: readonly PeerInfo[] = [];

  constructor(
    /** This reactor. */
    readonly self: PeerInfo,
  ) {}

  /** The other live reactors (all generations still serving clients). */
  get peers(): readonly PeerInfo[] {
    return this.current;
  }

  /** Called now with the current set, then on every change. */
  onPeers(fn: (peers: readonly PeerInfo[]) => void): void {
    this.listeners.push(fn);
    fn(this.current);
  }

  /** From the supervisor: the whole live set (this reactor included, filtered out here). */
  update(all: readonly PeerInfo[]): void {
    this.current = all.filter((p) => p.id !== this.self.id);
    for (const fn of this.listeners) fn(this.current);
  }
}
