/**
 * Request deadlines without a timer per request. Calls sharing a timeout are
 * appended in arrival order, so each list is sorted by deadline: expiry only
 * looks at heads, and one timer is armed for the earliest head.
 */
import type { Call } from './call';

/** Deadlines are on the monotonic clock, expressed as epoch ms (frames stamp them from performance.now()). */
function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

interface List {
  head: Call | null;
  tail: Call | null;
}

export class Deadlines {
  private readonly lists = new Map<number, List>();
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  size = 0;

  constructor(private readonly expire: (call: Call) => void) {}

  add(call: Call): void {
    let l = this.lists.get(call.timeoutMs);
    if (l === undefined) this.lists.set(call.timeoutMs, (l = { head: null, tail: null }));
    call.prev = l.tail;
    call.next = null;
    if (l.tail) l.tail.next = call;
    else l.head = call;
    l.tail = call;
    this.size++;
    if (call.deadline < this.armedFor) this.arm(call.deadline);
  }

  remove(call: Call): void {
    const l = this.lists.get(call.timeoutMs);
    if (l === undefined) return;
    if (call.prev) call.prev.next = call.next;
    else if (l.head === call) l.head = call.next;
    else return; // not linked
    if (call.next) call.next.prev = call.prev;
    else l.tail = call.prev;
    call.prev = call.next = null;
    this.size--;
    if (this.size === 0) this.disarm();
  }

  /** Every call still waiting, oldest first per list. */
  *pending(): IterableIterator<Call> {
    for (const l of this.lists.values()) {
      for (let c = l.head; c !== null; ) {
        const next = c.next;
        yield c;
        c = next;
      }
    }
  }

  close(): void {
    this.disarm();
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - epochNow()));
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = epochNow();
    let next = Infinity;
    for (const l of this.lists.values()) {
      while (l.head !== null && l.head.deadline <= now) this.expire(l.head); // expire() removes it
      if (l.head !== null && l.head.deadline < next) next = l.head.deadline;
    }
    if (next !== Infinity) this.arm(next);
  }
}
