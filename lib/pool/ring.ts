/**
 * A single-producer/single-consumer ring of length-prefixed frames in a
 * SharedArrayBuffer. One thread writes, one thread reads; the only
 * synchronisation is two Atomics-published byte positions.
 *
 * Layout of the SharedArrayBuffer:
 *
 *   bytes 0..127    control, as Int32 words (producer's and consumer's words on
 *                   different 64-byte cache lines):
 *                     [0]  WRITE    bytes ever published by the producer (int32, wraps)
 *                     [1]  PWAIT    1 while the producer waits for space (it sleeps on READ)
 *                     [16] READ     bytes ever released by the consumer (int32, wraps)
 *                     [17] SLEEP    1 while the consumer sleeps (it sleeps on WRITE)
 *   bytes 128..     data area, `capacity` bytes, a power of two
 *
 * A frame starts at an 8-byte-aligned position and never wraps: a 16-byte
 * header of four int32 words — [0] body length, [1..3] free for the caller —
 * then the body, padded to 8 bytes. When a frame does not fit before the end
 * of the data area, the producer writes a WRAP marker (length -1) and the
 * frame starts again at offset 0, so every frame body is one contiguous view
 * (decoders read it in place). A frame is at most half the capacity, so one
 * always fits once the ring has drained; bigger payloads travel outside the
 * ring (see pool.ts, oversize frames).
 *
 * Batching: the producer writes any number of frames, then publishes them all
 * with one Atomics.store of WRITE; the consumer reads everything published,
 * then releases it all with one Atomics.store of READ. Positions are int32 and
 * wrap; `(write - read) | 0` is the fill level because capacity <= 2^30.
 *
 * Wake-ups are the caller's business (see pool.ts and worker.ts): a consumer
 * about to sleep sets SLEEP, re-checks WRITE, then waits on the WRITE word;
 * the producer checks SLEEP after publishing and notifies only then.
 */

export const CTL_BYTES = 128;
export const WRITE = 0;
export const PWAIT = 1;
export const READ = 16;
export const SLEEP = 17;
/** Header words per frame. */
export const HEADER_BYTES = 16;
const WRAP = -1;

export function ringBytes(capacity: number): number {
  return CTL_BYTES + capacity;
}

function checkCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 256 || capacity > 1 << 30 || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`ring capacity must be a power of two between 256 and 2^30, got ${capacity}`);
  }
}

/** Total bytes a frame with `bodyBytes` of body takes in the ring. */
export function frameBytes(bodyBytes: number): number {
  return (HEADER_BYTES + bodyBytes + 7) & ~7;
}

/** Views shared by both ends. */
class RingViews {
  readonly ctl: Int32Array;
  readonly u8: Uint8Array;
  /** Buffer view of the data area (msgpackr's fast paths, Buffer.copy). */
  readonly buf: Buffer;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
  readonly capacity: number;
  readonly mask: number;
  /** Largest body a frame may carry. */
  readonly maxBody: number;

  constructor(readonly sab: SharedArrayBuffer) {
    const capacity = sab.byteLength - CTL_BYTES;
    checkCapacity(capacity);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxBody = (capacity >> 1) - HEADER_BYTES;
    this.ctl = new Int32Array(sab, 0, CTL_BYTES >> 2);
    this.u8 = new Uint8Array(sab, CTL_BYTES, capacity);
    this.buf = Buffer.from(sab, CTL_BYTES, capacity);
    this.i32 = new Int32Array(sab, CTL_BYTES, capacity >> 2);
    this.f32 = new Float32Array(sab, CTL_BYTES, capacity >> 2);
    this.f64 = new Float64Array(sab, CTL_BYTES, capacity >> 3);
  }
}

export function createRing(capacity: number): SharedArrayBuffer {
  checkCapacity(capacity);
  return new SharedArrayBuffer(ringBytes(capacity));
}

/** The producer end. */
export class RingWriter extends RingViews {
  /** Local write position (published on publish()). */
  private w: number;
  /** Last READ seen; reloaded only when the cached free space is not enough. */
  private r: number;
  private published: number;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.w = this.published = Atomics.load(this.ctl, WRITE);
    this.r = Atomics.load(this.ctl, READ);
  }

  /**
   * Reserves a frame with `bodyBytes` of body and returns the byte offset of
   * its header in the data area (the body starts 16 bytes later), or -1 when
   * the ring has no room now. The frame is invisible to the consumer until
   * publish(). Throws if the body can never fit (> maxBody).
   */
  reserve(bodyBytes: number): number {
    if (bodyBytes > this.maxBody) throw new RangeError(`frame body of ${bodyBytes} bytes exceeds the ring's ${this.maxBody}`);
    const size = frameBytes(bodyBytes);
    let off = this.w & this.mask;
    const tail = this.capacity - off;
    const need = size > tail ? size + tail : size;
    if (this.capacity - ((this.w - this.r) | 0) < need) {
      this.r = Atomics.load(this.ctl, READ);
      if (this.capacity - ((this.w - this.r) | 0) < need) return -1;
    }
    if (size > tail) {
      this.i32[off >> 2] = WRAP;
      this.w = (this.w + tail) | 0;
      off = 0;
    }
    this.i32[off >> 2] = bodyBytes;
    this.w = (this.w + size) | 0;
    return off;
  }

  /** Frames reserved but not yet published. */
  get pending(): boolean {
    return this.w !== this.published;
  }

  /**
   * Publishes every frame reserved so far (one Atomics.store) and wakes the
   * consumer if it sleeps on WRITE. Returns true if it had to wake it.
   */
  publish(): boolean {
    if (this.w === this.published) return false;
    this.published = this.w;
    Atomics.store(this.ctl, WRITE, this.w);
    if (Atomics.load(this.ctl, SLEEP) !== 0) {
      Atomics.notify(this.ctl, WRITE);
      return true;
    }
    return false;
  }

  /** Bytes in use (published or not) as far as this end knows. */
  used(): number {
    this.r = Atomics.load(this.ctl, READ);
    return (this.w - this.r) | 0;
  }

  /**
   * Blocks this thread (workers only: never call it on the reactor) until the
   * consumer releases space or `timeoutMs` passes. Publishes first, so the
   * consumer has something to release.
   */
  waitForSpace(timeoutMs: number): void {
    this.publish();
    const r = Atomics.load(this.ctl, READ);
    if (r !== this.r) {
      this.r = r;
      return;
    }
    Atomics.store(this.ctl, PWAIT, 1);
    if (Atomics.load(this.ctl, READ) === r) Atomics.wait(this.ctl, READ, r, timeoutMs);
    Atomics.store(this.ctl, PWAIT, 0);
    this.r = Atomics.load(this.ctl, READ);
  }
}

/** The consumer end. */
export class RingReader extends RingViews {
  /** Local read position: everything before it has been handed out by next(). */
  private r: number;
  private released: number;
  /** Last WRITE seen. */
  private w: number;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.r = this.released = Atomics.load(this.ctl, READ);
    this.w = Atomics.load(this.ctl, WRITE);
  }

  /**
   * The header offset of the next published frame, or -1 when there is none.
   * The frame (and every one before it) stays valid until release().
   */
  next(): number {
    if (this.r === this.w) {
      this.w = Atomics.load(this.ctl, WRITE);
      if (this.r === this.w) return -1;
    }
    let off = this.r & this.mask;
    let len = this.i32[off >> 2];
    if (len === WRAP) {
      this.r = (this.r + this.capacity - off) | 0;
      off = 0;
      len = this.i32[0];
    }
    this.r = (this.r + frameBytes(len)) | 0;
    return off;
  }

  /** Something is published and not read yet (one atomic load). */
  hasData(): boolean {
    return this.r !== this.w || this.r !== (this.w = Atomics.load(this.ctl, WRITE));
  }

  /** The WRITE value this end has seen (the value to sleep on). */
  get seen(): number {
    return this.w;
  }

  /** Gives everything read so far back to the producer (one Atomics.store); wakes it if it waits for space. */
  release(): void {
    if (this.r === this.released) return;
    this.released = this.r;
    Atomics.store(this.ctl, READ, this.r);
    if (Atomics.load(this.ctl, PWAIT) !== 0) Atomics.notify(this.ctl, READ);
  }

  /** Body length of the frame at `off`. */
  bodyLength(off: number): number {
    return this.i32[off >> 2];
  }
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

/** Atomics.waitAsync (Node >= 16; missing from the ES2022 typings this project compiles against). */
export function waitAsync(a: Int32Array, index: number, value: number, timeoutMs?: number): WaitAsyncResult {
  return (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t?: number): WaitAsyncResult }).waitAsync(a, index, value, timeoutMs);
}
