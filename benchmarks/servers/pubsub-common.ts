/**
 * The minimal pub/sub protocol the fan-out baselines speak, the same bytes
 * as ringloop's: `[0, id, "ringloop.subscribe", [topic]]` answered
 * `[1, id, nil, true]`, `[2, "ringloop.publish", [topic, data]]` delivering
 * `[2, "ringloop.message", [topic, data]]` to every subscriber, encoded once.
 * No validation, no limits, no metrics: the floor a framework is measured against.
 */
import { Packr, Unpackr, type Options } from 'msgpackr';

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'auto' } as unknown as Options);

export interface PubSubSink {
  subscribe(topic: string): void;
  answer(bytes: Buffer): void;
  publish(topic: string, bytes: Buffer): void;
}

export function handleFrame(bytes: Uint8Array, sink: PubSubSink): void {
  for (const m of unpackr.unpackMultiple(bytes) as unknown[]) {
    if (!Array.isArray(m)) continue;
    if (m[0] === 0 && m[2] === 'ringloop.subscribe') {
      sink.subscribe(String((m[3] as unknown[])[0]));
      sink.answer(packr.pack([1, m[1], null, true]));
    } else if (m[0] === 2 && m[1] === 'ringloop.publish') {
      const [topic, data] = m[2] as [string, unknown];
      sink.publish(topic, packr.pack([2, 'ringloop.message', [topic, data]]));
    }
  }
}
