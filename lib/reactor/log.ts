import type { Logger } from 'pino';

/** The logger for a "listening" line: scripts wait for it, so it is printed even above --log-level info (not when silent). */
export function announcer(log: Logger): Logger {
  return log.level === 'silent' || log.isLevelEnabled('info') ? log : log.child({}, { level: 'info' });
}
