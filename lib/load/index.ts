/**
 * The load-generator engine: MessagePack-RPC over hand-rolled WebSocket
 * framing or a raw TCP stream, pipelined and batched, with HDR latency
 * percentiles. `ringloop load` is a front end to `runLoad`.
 */
export { runLoad } from './load';
export { summarize, buildHistogram } from './stats';
export { openIdleConnections } from './idle';
export type { IdleOptions, IdleConnections } from './idle';
export { parseTarget } from './target';
export type {
  LoadOptions,
  LoadReport,
  LoadProgress,
  LatencySummary,
  LoadTarget,
  LoadTransport,
  PayloadType,
  OpenLoopReport,
  ClientReport,
} from './types';
export { formatReport, formatProgress } from './format';
