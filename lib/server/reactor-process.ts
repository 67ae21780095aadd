/**
 * One reactor process of `ringloop serve` (a node:cluster worker): loads the
 * plugins, waits for the supervisor's `listen`, serves, and follows its
 * orders (retire, shutdown). It ignores signals itself: the supervisor is the
 * one process to signal. If the supervisor disappears, node:cluster ends this
 * process at once (its own 'disconnect' handler), so no orphan keeps a port
 * nobody manages.
 */
import pino from 'pino';
import { createReactor, type Reactor } from './reactor';
import { loadPlugin } from '../plugins/loader';
import { REACTOR_ENV, type FromReactor, type ReactorSpec, type ToReactor } from './ipc';
import { joinRelay } from '../pubsub/cluster';
import type { Relay } from '../pubsub/relay';

function send(m: FromReactor): void {
  if (process.connected) process.send!(m);
}

export async function runReactorProcess(): Promise<void> {
  const spec = JSON.parse(process.env[REACTOR_ENV]!) as ReactorSpec;
  const { args } = spec;
  const log = pino({ level: args.logLevel, base: { pid: process.pid, reactor: spec.index, generation: spec.generation } });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => undefined);
  process.on('uncaughtException', (e) => {
    // Outside any handler (handlers' throws are caught where they run): this reactor is replaced.
    log.fatal({ err: e?.stack ?? String(e) }, 'reactor: uncaught exception, exiting');
    process.exit(70);
  });

  let reactor: Reactor;
  try {
    // Limits on the whole server are shared out like --workers; per-address ones apply per reactor.
    const maxConnections = args.options.maxConnections ?? 0;
    const reactors = spec.reactors;
    reactor = createReactor({ ...args.options, workers: spec.workers, maxConnections: maxConnections > 0 ? Math.ceil(maxConnections / reactors) : 0, logger: log, sharedPort: true });
    await reactor.registerAll(args.plugins.map((p) => ({ plugin: loadPlugin(p), options: p.options })));
  } catch (e) {
    send({ t: 'failed', error: (e as Error)?.message ?? String(e) });
    process.exit(2);
  }
  const r = reactor;
  // Pub/sub across reactor processes: join the relay, tell the supervisor where it listens.
  let relay: Relay | null = null;
  try {
    const joined = await joinRelay(r.pubsub);
    if (joined !== null) {
      relay = joined.relay;
      send({ t: 'relay', peer: joined.peer });
    }
  } catch (e) {
    send({ t: 'failed', error: `pub/sub relay: ${(e as Error)?.message ?? String(e)}` });
    process.exit(2);
  }
  const gathers = new Map<number, (text: string | null) => void>();
  let nextGather = 1;
  r.gatherMetrics = () =>
    new Promise<string>((resolve) => {
      const id = nextGather++;
      // The supervisor answers within its own deadline; this one only guards against its loss.
      const timer = setTimeout(() => finish(null), 2000);
      const finish = (text: string | null): void => {
        clearTimeout(timer);
        gathers.delete(id);
        resolve(text ?? r.metrics.render());
      };
      gathers.set(id, finish);
      send({ t: 'gather', id });
    });

  let ending = false;
  const end = (how: Promise<void>): void => {
    if (ending) return;
    ending = true;
    how.then(
      // Farewell figures first: the server's counters keep what this reactor counted.
      () => (process.connected ? process.send!({ t: 'snapshot', id: 0, text: r.metrics.render() } satisfies FromReactor, () => process.exit(0)) : process.exit(0)),
      (e: unknown) => {
        log.error({ err: (e as Error)?.message }, 'reactor: close failed');
        process.exit(1);
      },
    );
  };

  process.on('message', (m: ToReactor) => {
    switch (m.t) {
      case 'listen':
        r.listeningMessage = 'reactor listening';
        r.options.port = m.port;
        r.options.tcpPort = m.tcpPort;
        r.listen().then(
          (info) => send({ t: 'listening', port: info.port, tcpPort: info.tcpPort, methods: r.methodNames, transports: info.tcpPort === null ? ['ws'] : ['ws', 'tcp'] }),
          (e: unknown) => {
            send({ t: 'failed', error: (e as Error)?.message ?? String(e) });
            process.exit(2);
          },
        );
        break;
      case 'stop-accepting':
        r.stopAccepting();
        send({ t: 'stopped-accepting' });
        break;
      case 'retire':
        end(r.retire());
        break;
      case 'shutdown':
        end(r.listenInfo === null ? Promise.resolve() : r.close(Date.now() - (m.elapsedMs ?? 0)));
        break;
      case 'snapshot':
        send({ t: 'snapshot', id: m.id, text: r.metrics.render() });
        break;
      case 'metrics':
        gathers.get(m.id)?.(m.text);
        break;
      case 'peers':
        relay?.setPeers(m.peers);
        break;
    }
  });
  send({ t: 'loaded' });
}
