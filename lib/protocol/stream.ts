/**
 * Framing for the raw-TCP MessagePack-RPC byte stream: messages back to back,
 * no length prefix, split across reads in any way.
 *
 * Linear in the bytes received whatever the split: complete messages are
 * handed on straight from the read buffer, only an incomplete tail is copied
 * (into a buffer that grows by doubling), and the scan of a message cut by a
 * read resumes where it stopped (ScanResume) instead of starting over.
 */
import { SCAN_INCOMPLETE, SCAN_INVALID, ScanResume, scanResumable } from './scan';

export type StreamError = 'invalid' | 'too-large';

export class StreamDecoder {
  private pending: Buffer | null = null;
  private len = 0;
  private readonly resume = new ScanResume();

  /** `maxMessage`: a message (complete or not) larger than this is an error; it bounds the memory held. */
  constructor(private readonly maxMessage: number) {}

  /** Bytes held for an incomplete message. */
  get buffered(): number {
    return this.len;
  }

  /** Memory held for an incomplete message: the whole buffer while one is pending. */
  get held(): number {
    return this.len === 0 ? 0 : this.pending!.length;
  }

  /**
   * Feeds one read. `deliver` gets the complete messages it finished, back to
   * back, as a view valid only during the call. Returns an error, or null.
   */
  push(chunk: Uint8Array, deliver: (messages: Uint8Array) => void): StreamError | null {
    let data: Uint8Array;
    let end: number;
    if (this.len === 0) {
      data = chunk;
      end = chunk.length;
    } else {
      this.append(chunk);
      data = this.pending!;
      end = this.len;
    }
    let pos = 0;
    while (pos < end) {
      const r = scanResumable(data, pos, end, this.resume);
      if (r === SCAN_INVALID) return 'invalid';
      if (r === SCAN_INCOMPLETE) {
        if (end - pos > this.maxMessage) return 'too-large';
        break;
      }
      if (r - pos > this.maxMessage) return 'too-large';
      pos = r;
    }
    if (pos > 0) deliver(data.subarray(0, pos));
    const rest = end - pos;
    if (rest === 0) {
      this.len = 0;
      // Do not pin a big buffer for an idle connection.
      if (this.pending !== null && this.pending.length > 64 * 1024) this.pending = null;
    } else if (data === chunk) {
      this.len = 0;
      this.append(chunk.subarray(pos, end));
      this.resume.shift(pos);
    } else if (pos > 0) {
      this.pending!.copyWithin(0, pos, end);
      this.len = rest;
      this.resume.shift(pos);
    }
    return null;
  }

  private append(bytes: Uint8Array): void {
    const need = this.len + bytes.length;
    if (this.pending === null || this.pending.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, 4096, this.pending === null ? 0 : this.pending.length * 2));
      if (this.pending !== null && this.len > 0) this.pending.copy(grown, 0, 0, this.len);
      this.pending = grown;
    }
    this.pending.set(bytes, this.len);
    this.len = need;
  }
}
