/**
 * `ringloop serve`: one reactor process with graceful shutdown on SIGTERM/SIGINT.
 */
import pino from 'pino';
import { createReactor } from '../server/reactor';
import { loadPlugin } from '../plugins/loader';
import type { ServeArgs } from './args';

export async function serve(args: ServeArgs): Promise<void> {
  const log = pino({ level: args.logLevel, base: { pid: process.pid } });
  const reactor = createReactor({ ...args.options, logger: log });
  // Load everything before listening: a bad plugin must leave nothing bound.
  await reactor.registerAll(args.plugins.map((spec) => ({ plugin: loadPlugin(spec), options: spec.options })));
  log.info({ version: require('../../../package.json').version, node: process.versions.node, options: reactor.options }, 'starting');
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) {
      log.warn({ signal: sig }, 'shutdown already in progress');
      return;
    }
    signalled = true;
    log.info({ signal: sig }, 'shutdown: signal received');
    // The contract promises exit within --drain-timeout even if something hangs.
    const hard = setTimeout(() => {
      log.error('shutdown: drain deadline overrun, exiting');
      process.exit(0);
    }, reactor.options.drainTimeout * 1000 + 250);
    hard.unref();
    reactor.close().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: (e as Error)?.message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // Before listening: a signal that arrives right after the "listening" line must find its handler.
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await reactor.listen();
}
