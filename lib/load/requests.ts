/**
 * Precomputed request frames. Each connection keeps `pipeline` frame slots;
 * slot s always carries the requests with msgids s*batch .. s*batch+batch-1,
 * and is sent again, byte for byte, once all of its responses are back. The
 * bytes never change, so one set of frames serves every connection.
 */
import { Packr } from 'msgpackr';
import { encodeClientFrame, OP_BINARY } from './ws-frame';

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

/** The largest total size of the shared frames. */
export const MAX_FRAME_SET_BYTES = 512 * 1024 * 1024;

export interface FrameSet {
  /** One frame per slot, ready to write (WebSocket-framed and masked, or raw for TCP). */
  frames: Buffer[];
  /** Encoded bytes of the first param, for `verify` (null when there are no params). */
  firstParamBytes: Buffer | null;
  /** Encoded size of one request. */
  requestBytes: number;
  /** A frame (or TCP bytes) holding request `msgid` alone, as in its slot: to send it again (`--reconnect`). */
  single(msgid: number): Buffer;
}

export function makePayload(bytes: number, type: 'str' | 'bin'): string | Buffer {
  const pattern = 'ringloop-load-0123456789abcdefghijklmnopqrstuvwxyz';
  let s = '';
  while (s.length < bytes) s += pattern;
  s = s.slice(0, bytes);
  return type === 'str' ? s : Buffer.from(s, 'latin1');
}

export function buildFrameSet(
  pipeline: number,
  batch: number,
  method: string,
  params: readonly unknown[],
  websocket: boolean,
): FrameSet {
  const firstParamBytes = params.length > 0 ? Buffer.from(packr.pack(params[0])) : null;
  const probe = packr.pack([0, 0xffffffff, method, params]);
  const requestBytes = probe.length;
  const total = requestBytes * batch * pipeline;
  if (total > MAX_FRAME_SET_BYTES) {
    throw new Error(
      `pipeline × batch × request size = ${total} bytes is over ${MAX_FRAME_SET_BYTES}; lower the payload, pipeline or batch`,
    );
  }
  const frames: Buffer[] = [];
  for (let s = 0; s < pipeline; s++) {
    const parts: Buffer[] = [];
    for (let i = 0; i < batch; i++) {
      // Copy: pack() returns a view into a large msgpackr buffer; keep only the bytes.
      parts.push(Buffer.from(packr.pack([0, s * batch + i, method, params])));
    }
    const body = Buffer.concat(parts);
    frames.push(websocket ? encodeClientFrame(OP_BINARY, body) : body);
  }
  const single = (msgid: number): Buffer => {
    const body = Buffer.from(packr.pack([0, msgid, method, params]));
    return websocket ? encodeClientFrame(OP_BINARY, body) : body;
  };
  return { frames, firstParamBytes, requestBytes, single };
}
