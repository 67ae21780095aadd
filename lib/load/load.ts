import { runInThread } from './run';
import { runThreaded } from './threads';
import type { LoadOptions, LoadReport } from './types';

/**
 * Runs a load test and reports on its measured window. With `threads > 1` the
 * connections are spread over worker threads (see threads.ts); otherwise they
 * run on the calling thread.
 */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  if ((options.threads ?? 1) > 1) return runThreaded(options);
  return (await runInThread(options)).report;
}
