/** A load thread (threads.ts): runs its share of the connections and posts back its report and histogram. */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { runInThread } from './run';
import type { FromWorker, ToWorker, WorkerInit } from './threads';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: FromWorker): void => port.postMessage(m);
const stop = new AbortController();
let go: (() => void) | null = null;

port.on('message', (m: ToWorker) => {
  if (m.type === 'go') go?.();
  else if (m.type === 'stop') stop.abort();
});

runInThread(
  {
    ...init.options,
    signal: stop.signal,
    progressIntervalMs: Math.min(init.options.progressIntervalMs ?? 1000, 250),
    onPhase: (phase) => post({ type: 'phase', phase }),
    onProgress: (progress) => post({ type: 'progress', progress }),
  },
  {
    shard: init.shard,
    beforeStart: () =>
      new Promise<void>((resolve) => {
        go = resolve;
        post({ type: 'connected' });
      }),
  },
).then(
  ({ report, histogram }) => {
    // The parent terminates this thread once every thread has reported.
    post({ type: 'done', report, histogram: encodeIntoCompressedBase64(histogram) });
  },
  (e: unknown) => post({ type: 'error', message: (e as Error)?.message ?? String(e) }),
);
