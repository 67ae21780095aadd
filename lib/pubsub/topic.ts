/**
 * Topic names (CONTRACT.md, Pub/sub): 1..256 bytes, one or more tokens of
 * [A-Za-z0-9_:-] joined by single dots. Every such name is a valid NATS
 * subject token sequence with no wildcards, so `PREFIX.TOPIC` is always a
 * literal subject.
 */
import { invalidParams } from '../errors';

export const MAX_TOPIC_BYTES = 256;

const TOPIC = /^[A-Za-z0-9_:-]+(?:\.[A-Za-z0-9_:-]+)*$/;

/** Whether `t` is a topic name (all its characters are ASCII, so length is its byte count). */
export function isTopic(t: unknown): t is string {
  return typeof t === 'string' && t.length >= 1 && t.length <= MAX_TOPIC_BYTES && TOPIC.test(t);
}

/** The topic or an INVALID_PARAMS RpcError naming what is wrong. */
export function checkTopic(t: unknown): string {
  if (isTopic(t)) return t;
  if (typeof t !== 'string') throw invalidParams('topic must be a string');
  if (t.length === 0 || Buffer.byteLength(t) > MAX_TOPIC_BYTES) throw invalidParams(`topic must be 1..${MAX_TOPIC_BYTES} bytes`);
  throw invalidParams('topic must be tokens of [A-Za-z0-9_:-] joined by single dots (no wildcards, no empty tokens)');
}
