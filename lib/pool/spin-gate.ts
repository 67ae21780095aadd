/**
 * Whether busy-waiting pays off right now. The worker spins a little before
 * it sleeps and the reactor polls a little before it waits, because waking a
 * sleeping thread costs more than the work of a small task. But two threads
 * busy-waiting for each other on one core (a box with more runnable threads
 * than cores) stall each other until the scheduler steps in: measured here,
 * the round trip went from ~3 µs to ~70 µs p50, worse than never spinning
 * (~18 µs). So each side keeps score: a busy-wait that ended without work is a
 * miss; when most of the last few were misses, it stops busy-waiting for a
 * while (also saving the CPU a lightly loaded pool would burn), then tries
 * again.
 */
export class SpinGate {
  private tries = 0;
  private misses = 0;
  private offFor = 0;

  constructor(
    /** Decisions are made over this many busy-waits. */
    private readonly window = 8,
    /** Busy-waits skipped after a bad window, before trying again. */
    private readonly backoff = 256,
  ) {}

  /** May this wait busy-wait? (Call once per wait.) */
  allow(): boolean {
    if (this.offFor === 0) return true;
    this.offFor--;
    return false;
  }

  /** How a busy-wait ended: found work in time, or gave up. */
  record(hit: boolean): void {
    this.tries++;
    if (!hit) this.misses++;
    if (this.tries >= this.window) {
      if (this.misses * 2 > this.tries) this.offFor = this.backoff;
      this.tries = this.misses = 0;
    }
  }

  get enabled(): boolean {
    return this.offFor === 0;
  }
}
