/** A minimal event emitter that runs in browsers and Node alike. */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  private readonly handlers = new Map<keyof Events, Set<Events[keyof Events]>>();

  on<K extends keyof Events>(name: K, fn: Events[K]): () => void {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  off<K extends keyof Events>(name: K, fn: Events[K]): void {
    this.handlers.get(name)?.delete(fn);
  }

  has(name: keyof Events): boolean {
    return (this.handlers.get(name)?.size ?? 0) > 0;
  }

  /** Calls every handler; one that throws is reported on the next turn (like an uncaught error) and does not stop the others. */
  emit<K extends keyof Events>(name: K, ...args: Parameters<Events[K]>): void {
    const set = this.handlers.get(name);
    if (set) callEach(set as Set<(...a: Parameters<Events[K]>) => void>, ...args);
  }
}

/** Calls every handler (of a copy: one may remove itself); one that throws is reported on the next turn and does not stop the others. */
export function callEach<A extends unknown[]>(handlers: Iterable<(...a: A) => void>, ...args: A): void {
  for (const fn of [...handlers]) {
    try {
      fn(...args);
    } catch (e) {
      setTimeout(() => {
        throw e;
      }, 0);
    }
  }
}
