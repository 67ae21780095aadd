/**
 * HTTP on the uWS port, defended: responses that never grow past what the
 * kernel takes, refusal of ambiguous request framing, and handlers that never
 * let an exception reach uWS (it would take the whole process down).
 * See native-notes/hardening-http.md for the native behaviours behind each rule.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

/**
 * Why this request's framing is ambiguous (a smuggling vector behind a proxy
 * that reads it differently), or null. uWS takes the first Content-Length and
 * ignores the rest; it closes, unanswered, a request with both Content-Length
 * and Transfer-Encoding before any handler runs, checked here anyway.
 */
export function framingProblem(req: HttpRequest): string | null {
  let lengths = 0;
  let first = '';
  let te = false;
  req.forEach((k, v) => {
    if (k === 'content-length') {
      if (lengths++ === 0) first = v;
    } else if (k === 'transfer-encoding') te = true;
  });
  if (lengths > 1) return 'repeated Content-Length';
  if (lengths === 1 && te) return 'both Content-Length and Transfer-Encoding';
  if (lengths === 1 && !/^[0-9]{1,15}$/.test(first)) return 'invalid Content-Length';
  return null;
}

/**
 * uWS gathers a read's output in a 16 KiB cork buffer and only writes it after
 * the whole read is parsed, so a request smuggled behind a refused one would be
 * answered before the refusal leaves. A body longer than the cork buffer makes
 * uWS write at once, uncorked; `end(…, true)` then shuts the socket down
 * before the parser reaches the next request.
 */
const CORK_BUFFER = 16 * 1024;

/** Answers `status` with Connection: close and closes, so nothing after this request on the connection is read. */
export function refuse(res: HttpResponse, status: string, reason: string): void {
  const text = `${status.slice(4).toLowerCase()}: ${reason}\n`;
  res.writeStatus(status).writeHeader('Content-Type', 'text/plain; charset=utf-8').end(text.padEnd(CORK_BUFFER + 1, ' '), true);
}

/**
 * Sends a complete response without ever buffering it in uWS: tryEnd writes
 * what the kernel takes now and onWritable the rest. While a response is
 * unfinished uWS closes the connection at the next pipelined request, so a
 * client that pipelines without reading holds at most one response here (plus
 * the kernel's socket buffer), and uWS's 10 s HTTP timeout cuts it if it never
 * reads at all.
 */
export function respond(res: HttpResponse, status: string, body: string | Buffer, headers: ReadonlyArray<readonly [string, string]> = []): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const total = bytes.length;
  let aborted = false;
  res.onAborted(() => (aborted = true));
  res.writeStatus(status);
  for (const [k, v] of headers) res.writeHeader(k, v);
  const start = res.getWriteOffset();
  const [, done] = res.tryEnd(bytes, total);
  if (done) return;
  res.onWritable((offset) => {
    if (aborted) return true;
    try {
      const [ok] = res.tryEnd(bytes.subarray(offset - start), total);
      return ok;
    } catch {
      return true; // finished or closed meanwhile
    }
  });
}

/** Log sink for exceptions a handler threw (never rethrown into uWS). */
export type Fault = (where: string, err: unknown) => void;

/**
 * Runs an HTTP handler; an exception is logged and answered 500 with a close
 * (or the socket is closed when a response had already started).
 */
export function guardHttp<A extends unknown[]>(
  where: string,
  fault: Fault,
  handler: (res: HttpResponse, req: HttpRequest, ...rest: A) => void,
): (res: HttpResponse, req: HttpRequest, ...rest: A) => void {
  return (res, req, ...rest) => {
    try {
      handler(res, req, ...rest);
    } catch (err) {
      fault(where, err);
      try {
        res.writeStatus('500 Internal Server Error').end('internal error\n', true);
      } catch {
        try {
          res.close();
        } catch {
          /* already answered or gone: nothing left to do */
        }
      }
    }
  };
}
