/**
 * Pub/sub over the relay between reactor processes: a publication travels as
 * one relay frame `[u16 topic length][topic][packed data]`, written once per
 * peer reactor, and is delivered there to local subscribers only (never again
 * to NATS or other reactors).
 */
import { Relay, type RelayOptions } from './relay';
import type { PubSubLink } from './pubsub';

export interface RelayLinkOptions extends Pick<RelayOptions, 'selfId' | 'listenPath' | 'maxQueuedBytes' | 'retryMs' | 'log'> {
  deliver(topic: string, body: Uint8Array): void;
  dropped(frames: number): void;
}

export function relayFrame(topic: string, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(2 + topic.length + body.length);
  out.writeUInt16BE(topic.length, 0);
  out.write(topic, 2, 'latin1');
  out.set(body, 2 + topic.length);
  return out;
}

export class RelayLink implements PubSubLink {
  readonly relay: Relay;

  constructor(o: RelayLinkOptions) {
    this.relay = new Relay({
      selfId: o.selfId,
      listenPath: o.listenPath,
      maxQueuedBytes: o.maxQueuedBytes,
      retryMs: o.retryMs,
      log: o.log,
      onDrop: (_peer, frames) => o.dropped(frames),
      onMessage: (frame) => {
        if (frame.length < 2) return;
        const n = frame.readUInt16BE(0);
        const topic = frame.toString('latin1', 2, 2 + n);
        // No topic check: deliver() ignores a topic nobody here subscribed to, and every subscribed one was checked.
        o.deliver(topic, frame.subarray(2 + n));
      },
    });
  }

  publish(topic: string, body: Buffer): void {
    if (this.relay.hasPeers) this.relay.publish(relayFrame(topic, body));
  }

  close(): Promise<void> {
    return this.relay.close();
  }
}
