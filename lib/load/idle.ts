import { LoadConnection } from './connection';
import { LoadStats, PHASE_DRAIN } from './stats';
import { parseTarget } from './target';

/** Options of `openIdleConnections`. */
export interface IdleOptions {
  /** `ws://…`, `wss://…`, `tcp://…` or `tls://…`. */
  url: string;
  count: number;
  /** Handshakes in progress at once (default 200). */
  connectConcurrency?: number;
  connectTimeoutMs?: number;
  headers?: Readonly<Record<string, string>>;
  insecure?: boolean;
}

/** Connections that send nothing (WebSocket pings are still answered). */
export interface IdleConnections {
  readonly count: number;
  /** Connections still open. */
  openCount(): number;
  /** Close codes and reasons received so far. */
  closes(): Record<string, number>;
  /** Closes them all (WebSocket close frame 1000 first). */
  close(): Promise<void>;
}

/** Opens `count` connections that stay idle; rejects (after closing those opened) if any fails. */
export async function openIdleConnections(o: IdleOptions): Promise<IdleConnections> {
  const target = parseTarget(o.url);
  if (!Number.isInteger(o.count) || o.count < 0) throw new Error(`count must be an integer ≥ 0, got ${String(o.count)}`);
  const stats = new LoadStats();
  stats.phase = PHASE_DRAIN;
  const conns: LoadConnection[] = [];
  for (let i = 0; i < o.count; i++) {
    conns.push(
      new LoadConnection({
        target,
        frames: [],
        batch: 1,
        stats,
        expectedResult: null,
        headers: o.headers,
        insecure: o.insecure ?? false,
        rawEcho: false,
      }),
    );
  }
  const closeAll = (): Promise<void> => Promise.all(conns.map((c) => c.close(2000))).then(() => undefined);
  try {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < conns.length) await conns[next++]!.connect(o.connectTimeoutMs ?? 10_000);
    };
    const lanes: Promise<void>[] = [];
    for (let i = 0; i < Math.min(o.connectConcurrency ?? 200, conns.length); i++) lanes.push(lane());
    await Promise.all(lanes);
  } catch (e) {
    await closeAll();
    throw e;
  }
  return {
    count: conns.length,
    openCount: () => conns.reduce((n, c) => n + (c.isOpen ? 1 : 0), 0),
    closes: () => Object.fromEntries(stats.closes),
    close: closeAll,
  };
}
