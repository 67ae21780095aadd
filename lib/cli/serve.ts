/**
 * `ringloop serve`: the supervisor (lib/server/supervisor.ts) and its reactor
 * processes. SIGTERM/SIGINT shut down gracefully, SIGHUP hot-restarts.
 */
import pino from 'pino';
import { Supervisor } from '../server/supervisor';
import type { ServeArgs } from './args';

export async function serve(argv: string[], args: ServeArgs): Promise<void> {
  const log = pino({ level: args.logLevel, base: { pid: process.pid, role: 'supervisor' } });
  const sup = new Supervisor(argv, args, log);
  log.info({ version: require('../../../package.json').version, node: process.versions.node, options: args.options }, 'starting');
  // Before listening: a signal that arrives right after the "listening" line must find its handler.
  let started = false;
  let early: NodeJS.Signals | null = null;
  const onStop = (sig: NodeJS.Signals): void => (started ? sup.shutdown(sig) : void (early ??= sig));
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  let earlyReload = false;
  process.on('SIGHUP', () => (started ? void sup.reload() : void (earlyReload = true)));
  await sup.start();
  started = true;
  if (early !== null) sup.shutdown(early);
  else if (earlyReload) void sup.reload(); // queued, not lost
}
