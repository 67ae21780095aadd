/**
 * What crosses between the reactor and a pool worker: frame header words,
 * statuses, and the MessagePack encoders/decoders both sides use.
 *
 * Request frame (reactor -> worker), header words after the body length:
 *   [1] slot     the task's slot in that worker's table
 *   [2] op       method index | OP_* flags
 *   [3] msgid    the request's msgid (uint32 bits), for ctx.msgid; OP_NOTIFY: a notification (-1)
 *   body: float64 deadline (epoch ms), then the params array as MessagePack
 *         (no params bytes when OP_OVERSIZE: they come through the port)
 *
 * Response frame (worker -> reactor):
 *   [1] slot
 *   [2] status   STATUS_* | OP_OVERSIZE | RESP_ASYNC
 *   [3] run time in microseconds (wall, until the promise settled for async methods), as float32
 *   body: the result as MessagePack (OK), the error map (ERROR), nothing (SKIPPED, EXPIRED)
 *
 * Everything is plain MessagePack as in CONTRACT.md: no records, no extension
 * types; `undefined` is nil. A result is checked with the same scanner the
 * codec uses, with the response envelope's nesting level counted, so the
 * reactor can splice the worker's bytes into `[1, msgid, nil, result]` without
 * decoding them.
 */
import type { MessagePort } from 'node:worker_threads';
import { Options, Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { ErrorCode, RpcError, type RpcErrorBody } from '../errors';
import { SCAN_FLAG_UNSAFE_KEY, lastScanFlags, scanMessage } from '../protocol/scan';
import { checkedPlain, decodeAny, decodeOptions, packOptions, responseHeaderLength, writeResponseHeader } from '../protocol/codec';

// Pool-wide control words (Int32Array over a SharedArrayBuffer), each on its own cache line.
export const POOL_DOORBELL = 0;
export const POOL_REACTOR_SLEEP = 16;
export const POOL_SHUTDOWN = 32;
export const POOL_CTL_BYTES = 256;

/** What a worker is started with (workerData). */
export interface WorkerInit {
  index: number;
  req: SharedArrayBuffer;
  resp: SharedArrayBuffer;
  cancel: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  port: MessagePort;
  plugins: PoolPluginRef[];
  methods: string[];
  spinUs: number;
  sleepMode: 'auto' | 'async' | 'sync';
  /** Added to the worker thread's nice value (Linux only). */
  nice: number;
  /** CPUs the worker pins its thread to before loading plugins (empty: leave as is). */
  cpus: number[];
  oversizeBytes: number;
  logLevel: string;
  options: unknown;
}

/** A plugin the workers load by module path. */
export interface PoolPluginRef {
  module: string;
  name: string;
  options: unknown;
}

export const OP_METHOD_MASK = 0xffff;
/** The body is not in the ring: receive it from the frame port (receiveMessageOnPort). */
export const OP_OVERSIZE = 1 << 30;
/** A notification: ctx.msgid is -1 (the msgid word is not used). */
export const OP_NOTIFY = 1 << 29;

export const STATUS_OK = 0;
export const STATUS_ERROR = 1;
/** Not run: the reactor cancelled it (timeout, disconnect, shutdown) before it started. */
export const STATUS_SKIPPED = 2;
/** Not run: its deadline had passed when the worker reached it. */
export const STATUS_EXPIRED = 3;
/** Reactor side only: the worker exited while holding the task. */
export const STATUS_CRASHED = 4;
/** Reactor side only: the pool closed while the task was queued or running. */
export const STATUS_CLOSED = 5;
export const STATUS_MASK = 0xff;
/** Response flag: the method returned a promise (its run time is mostly waiting, not CPU). */
export const RESP_ASYNC = 1 << 29;

/** Bytes in front of an oversize result buffer, where the reactor writes the response header. */
export const RESULT_HEADROOM = 8;

const packr = new Packr(packOptions);

// The codec's decoder options: numbers up to 2^53, BigInt beyond; bin copied out of the ring.
const unpackrCopy = new Unpackr(decodeOptions);
// For bodies that arrived in a buffer of their own (oversize): bin values may stay views into it.
const unpackrView = new Unpackr({ ...(decodeOptions as object), copyBuffers: false } as Options);

function notPlain(cause: unknown): TypeError {
  const why = cause === null ? 'value cannot be sent as plain MessagePack (extension type such as a Date, or nesting deeper than 64)' : cause instanceof Error ? cause.message : String(cause);
  return new TypeError(`cannot encode: ${why}`);
}

/** Params for the worker. The result is a view into msgpackr's slab: copy or use it before the next encode. */
export function encodeParams(params: unknown[]): Buffer {
  try {
    return packr.pack(params);
  } catch (e) {
    throw notPlain(e);
  }
}

/**
 * A task's result, checked to be plain MessagePack that fits in a response
 * envelope. Returns the bytes of the result alone (a view: use before the next encode).
 */
export function encodeResultBody(value: unknown): Buffer {
  let out: Buffer;
  try {
    out = packr.pack(value, RESERVE_START_SPACE | 4);
  } catch (e) {
    throw notPlain(e);
  }
  // [1, 0, nil, <result>]: the envelope's nesting level counts against the depth limit.
  out[0] = 0x94;
  out[1] = 0x01;
  out[2] = 0x00;
  out[3] = 0xc0;
  // Throws a TypeError like notPlain's; 64-bit numbers become the smallest integers, as in the codec.
  return checkedPlain(out).subarray(4);
}

export function errorBodyOf(e: unknown): RpcErrorBody {
  if (e instanceof RpcError) return e.toBody();
  const message = e instanceof Error ? e.message : typeof e === 'string' ? e : 'handler failed';
  return { code: ErrorCode.HANDLER_ERROR, message };
}

/** The error map; without `data` when data cannot be encoded. */
export function encodeErrorBody(body: RpcErrorBody): Buffer {
  const code = String(body.code);
  const message = String(body.message);
  if (body.data !== undefined) {
    try {
      return checkedPlain(packr.pack({ code, message, data: body.data }));
    } catch {
      // without data below
    }
  }
  return packr.pack({ code, message });
}

const CODES = new Set<string>(Object.values(ErrorCode));

export function decodeErrorBody(bytes: Uint8Array): RpcErrorBody {
  try {
    const v = unpackrCopy.unpack(bytes) as { code?: unknown; message?: unknown; data?: unknown };
    const code = typeof v?.code === 'string' && CODES.has(v.code) ? (v.code as ErrorCode) : ErrorCode.HANDLER_ERROR;
    const message = typeof v?.message === 'string' ? v.message : 'handler failed';
    return v.data === undefined ? { code, message } : { code, message, data: v.data };
  } catch {
    return { code: ErrorCode.HANDLER_ERROR, message: 'undecodable error from worker' };
  }
}

/**
 * Params as the reactor decoded them. `own`: the bytes belong to the caller
 * (a transferred buffer), so bin values may stay views into them.
 */
export function decodeParams(bytes: Buffer, own: boolean): unknown[] {
  const end = scanMessage(bytes, 0, bytes.length);
  if (end === bytes.length && (lastScanFlags() & SCAN_FLAG_UNSAFE_KEY) === 0) {
    const v = (own ? unpackrView : unpackrCopy).unpack(bytes);
    if (Array.isArray(v)) return v;
  }
  // "__proto__" keys and other rarities: the codec's key rules (copies bin).
  const all = decodeAny(bytes);
  if (all.length !== 1 || !Array.isArray(all[0])) throw new RpcError(ErrorCode.INVALID_PARAMS, 'params must be an array');
  return all[0] as unknown[];
}

/** Any value the pool sent back (for the standalone pool API: results are not spliced there). */
export function decodeValue(bytes: Uint8Array): unknown {
  return unpackrCopy.unpack(bytes);
}

/** The error map the client gets for a task that did not end with a result. */
export function poolErrorBody(status: number, body: Uint8Array | null): RpcErrorBody {
  switch (status) {
    case STATUS_ERROR:
      return decodeErrorBody(body ?? new Uint8Array(0));
    case STATUS_CRASHED:
      return { code: ErrorCode.WORKER_CRASHED, message: 'the worker running the task exited' };
    case STATUS_EXPIRED:
      return { code: ErrorCode.TIMEOUT, message: 'the task reached its deadline before it ran' };
    case STATUS_CLOSED:
      return { code: ErrorCode.SHUTTING_DOWN, message: 'the worker pool closed before the task finished' };
    default:
      return { code: ErrorCode.HANDLER_ERROR, message: 'the task was cancelled' };
  }
}

/**
 * `[1, msgid, nil, result]` from result bytes a worker already encoded and
 * checked: one copy out of the ring, or none for an oversize result (it
 * arrives in a buffer of its own with RESULT_HEADROOM free bytes in front).
 */
export function spliceResult(msgid: number, result: Uint8Array): Buffer {
  const h = responseHeaderLength(msgid);
  const ab = result.buffer;
  if (result.byteOffset === RESULT_HEADROOM && ab instanceof ArrayBuffer && ab.byteLength === RESULT_HEADROOM + result.length) {
    const out = Buffer.from(ab, RESULT_HEADROOM - h, h + result.length);
    writeResponseHeader(out, 0, msgid);
    return out;
  }
  const out = Buffer.allocUnsafe(h + result.length);
  writeResponseHeader(out, 0, msgid);
  out.set(result, h);
  return out;
}
