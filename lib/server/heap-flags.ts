/**
 * V8 flags for reactor processes. The young generation is capped: by default
 * V8 doubles its semi-spaces (up to 16 MiB each) when a burst of connects
 * leaves survivors, and keeps them, so an idle connection costs ~40 % more
 * RSS than its objects (native-notes/memory-per-connection.md). 1 MiB, V8's
 * smallest, holds the request path's garbage with no throughput or latency
 * cost measured (benchmarks/README.md). A flag the user gives node itself wins.
 */
export const REACTOR_SEMI_SPACE_MB = 1;

const SEMI_SPACE = /^--max[-_]semi[-_]space[-_]size(=|$)/;

/** `execArgv` (the supervisor's own node flags) plus the reactor defaults the user did not set. */
export function reactorExecArgv(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => SEMI_SPACE.test(a));
  return given ? [...execArgv] : [...execArgv, `--max-semi-space-size=${REACTOR_SEMI_SPACE_MB}`];
}
