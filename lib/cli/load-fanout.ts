/**
 * `ringloop load --fanout`: the pub/sub fan-out mode of the load generator
 * (lib/load/fanout.ts). Bad options are one-line ConfigErrors.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors';
import { formatFanout, runFanout, type FanoutOptions } from '../load/fanout';
import { isTopic } from '../pubsub/topic';

export function fanoutUsage(): string {
  return `Usage: ringloop load --fanout --url ws://HOST:PORT [options]

S subscriber connections on one topic and one publisher at a fixed rate.
Reports deliveries/s, delivery latency (publish time to receipt: p50, p90,
p99, p99.9, max), and messages missing or out of order per subscriber.

  --url URL           where subscribers connect (ws://HOST:PORT) (required)
  --pub-url URL       where the publisher connects (default --url; e.g. another server on the same NATS)
  --subscribers S     subscriber connections (default 200)
  --rate R            publications per second (default 1000); max: as fast as the server delivers,
                      at most --window publications not yet received by every subscriber
  --window N          with --rate max: publications in flight (default 50000 / subscribers, at least 4)
  --burst B           with --rate max: publications per write (default 1), e.g. a busy topic
  --sample N          latency of the deliveries of every N-th publication only (default 1: all);
                      order and loss are checked on every delivery
  --size BYTES        data bytes per publication, at least 12 (default 64)
  --topic T           topic (default load.fanout)
  --duration S        measured seconds (default 5)
  --warmup S          seconds published before the measured window (default 1)
  --grace S           seconds to wait for stragglers before counting what is missing (default 1)
  --group-by M        every connection calls method M once (e.g. one naming its reactor); latency is
                      also reported for subscribers answering like the publisher and for the others
  --json              one JSON object on stdout instead of the table`;
}

function num(name: string, v: string | undefined, dflt: number, min: number, max: number, int: boolean): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
    throw new ConfigError(`--${name} must be ${int ? 'an integer' : 'a number'} ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

export function parseFanoutArgs(argv: string[]): { options: FanoutOptions; json: boolean; help: boolean } {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        fanout: { type: 'boolean' },
        url: { type: 'string' },
        'pub-url': { type: 'string' },
        subscribers: { type: 'string' },
        rate: { type: 'string' },
        size: { type: 'string' },
        topic: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        grace: { type: 'string' },
        window: { type: 'string' },
        sample: { type: 'string' },
        burst: { type: 'string' },
        'group-by': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    throw new ConfigError((e as Error).message.split('\n')[0]!);
  }
  const topic = v.topic ?? 'load.fanout';
  if (!isTopic(topic)) throw new ConfigError(`--topic ${JSON.stringify(topic)} is not a topic (tokens of [A-Za-z0-9_:-] joined by dots)`);
  if (!v.help && v.url === undefined) throw new ConfigError('--url is required (ws://HOST:PORT)');
  return {
    json: !!v.json,
    help: !!v.help,
    options: {
      url: v.url ?? '',
      pubUrl: v['pub-url'],
      subscribers: num('subscribers', v.subscribers, 200, 1, 100_000, true),
      rate: v.rate === 'max' ? 0 : num('rate', v.rate, 1000, 0.1, 10_000_000, false),
      window: v.window === undefined ? undefined : num('window', v.window, 0, 1, 1_000_000, true),
      burst: num('burst', v.burst, 1, 1, 100_000, true),
      sampleEvery: num('sample', v.sample, 1, 1, 1_000_000, true),
      size: num('size', v.size, 64, 12, 16 * 1024 * 1024, true),
      topic,
      durationS: num('duration', v.duration, 5, 0.1, 86400, false),
      warmupS: num('warmup', v.warmup, 1, 0, 3600, false),
      graceS: num('grace', v.grace, 1, 0, 600, false),
      groupBy: v['group-by'],
    },
  };
}

export async function fanoutMain(argv: string[]): Promise<void> {
  const a = parseFanoutArgs(argv);
  if (a.help) {
    process.stdout.write(fanoutUsage() + '\n');
    return;
  }
  let r;
  try {
    r = await runFanout(a.options);
  } catch (e) {
    process.stderr.write(`ringloop load: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write((a.json ? JSON.stringify(r) : formatFanout(r)) + '\n');
  process.exit(0);
}
