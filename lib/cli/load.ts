/**
 * `ringloop load`: the command-line front end of the load generator
 * (lib/load). Options are validated here, each bad one with a one-line
 * ConfigError (the CLI prints `ringloop: <message>` and exits 2).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors';
import { formatProgress, formatReport, parseTarget, runLoad, type LoadOptions, type LoadProgress, type PayloadType } from '../load';

export interface LoadArgs {
  options: LoadOptions;
  /** What is called, for the report (`echo ["<32-byte str>"]`). */
  call: string;
  json: boolean;
  quiet: boolean;
  help: boolean;
}

export function loadUsage(): string {
  return `Usage: ringloop load --url URL [options]

Drives a MessagePack-RPC server and reports requests/s, latency percentiles
(p50, p90, p99, p99.9, max) and error answers by code.

Target:
  --url URL           ws://HOST:PORT[/path], wss://..., tcp://HOST:PORT or tls://HOST:PORT (required)
  --header "K: V"     extra WebSocket handshake header, may repeat ("Authorization: Bearer T")
  --insecure          wss:// and tls://: accept any certificate
  --ca FILE           wss:// and tls://: also trust this CA / self-signed certificate (PEM)

Load:
  --connections N     connections (default 8)
  --pipeline N        frames in flight per connection (default 32)
  --batch N           requests per frame (default 1); in flight per connection: pipeline × batch
  --duration S        measured seconds, fractions allowed (default 5)
  --warmup S          seconds of load before the measured window, not counted (default 0)
  --rate R            open loop: R requests/s in all on a fixed schedule, whatever the answers do;
                      latency counts from each request's due time (default: closed loop, each
                      frame resent as soon as it is answered)
  --threads N         spread the connections over N worker threads (default 1)
  --reconnect         survive restarts: on ringloop.goaway move new requests to a new connection
                      and let the old one finish; resend requests answered SHUTTING_DOWN or left
                      unanswered by a close (they were not run), reconnecting after a close with
                      a backoff (0, 25 ms doubling to 1 s). Reports reconnects and resends; a
                      resent request counts once, its latency from its first send

Call:
  --method M          method to call (default echo)
  --payload BYTES     echo and sha256: size of the data sent (default 32)
  --payload-type T    str or bin (default str)
  --rounds N          sha256: rounds, 1..1000000 (default 1)
  --sleep-ms MS       sleep: milliseconds, 0..60000 (default 1)
  --params JSON       params as a JSON array, for any method (instead of the defaults)
  --verify            echo: check that every result is the payload sent

Pub/sub fan-out (ringloop load --fanout --help for its options):
  --fanout            S subscribers on a topic, one publisher at a fixed rate: deliveries/s,
                      delivery latency, missing and out-of-order messages

Output:
  --json              print one JSON object on stdout instead of the table
  --quiet             no progress on stderr
  --help              show this help

Params sent: echo [payload], sha256 [payload, rounds], sleep [ms], add [1, 2],
fail ["ringloop load"], any other method [payload].
Progress goes to stderr: one line updated in place on a terminal, one line a
second otherwise. The report says when the client itself was saturated.
Ctrl-C ends the measured window early and still reports; a second Ctrl-C quits.
Exit status: 0 after a report (error answers included), 1 when the run could
not be done (e.g. no connection), 2 for bad options.`;
}

const OPTIONS = {
  url: { type: 'string' },
  header: { type: 'string', multiple: true },
  insecure: { type: 'boolean' },
  ca: { type: 'string' },
  connections: { type: 'string' },
  pipeline: { type: 'string' },
  batch: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  rate: { type: 'string' },
  threads: { type: 'string' },
  reconnect: { type: 'boolean' },
  method: { type: 'string' },
  payload: { type: 'string' },
  'payload-type': { type: 'string' },
  rounds: { type: 'string' },
  'sleep-ms': { type: 'string' },
  params: { type: 'string' },
  verify: { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function intOption(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v.trim())) throw new ConfigError(`--${name} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(`--${name} must be an integer ${min}..${max}, got ${v}`);
  return n;
}

function numOption(name: string, v: string | undefined, dflt: number, min: number, max: number, minExclusive: boolean): number {
  if (v === undefined) return dflt;
  const n = v.trim() === '' ? NaN : Number(v);
  const range = `${minExclusive ? '>' : '≥'} ${min} and ≤ ${max}`;
  if (!Number.isFinite(n)) throw new ConfigError(`--${name} must be a number ${range}, got ${JSON.stringify(v)}`);
  if (minExclusive ? n <= min : n < min) throw new ConfigError(`--${name} must be a number ${range}, got ${v}`);
  if (n > max) throw new ConfigError(`--${name} must be a number ${range}, got ${v}`);
  return n;
}

function describe(value: unknown): string {
  if (typeof value === 'string' && value.length > 24) return `"<${Buffer.byteLength(value)}-byte str>"`;
  if (Buffer.isBuffer(value)) return `<${value.length}-byte bin>`;
  return JSON.stringify(value);
}

/** Parses `ringloop load` arguments; throws ConfigError naming the bad option. */
export function parseLoadArgs(argv: string[]): LoadArgs {
  // `--rate -5` is a bad value, not a missing one: keep negative numbers with their option.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') ? a.slice(2) : null;
    if (name !== null && name in OPTIONS && OPTIONS[name as keyof typeof OPTIONS].type === 'string' && next !== undefined && /^-\d/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else {
      args.push(a);
    }
  }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const m = /'(-[^' ]+)/.exec(err.message);
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && m) throw new ConfigError(`unknown option ${m[1]} (ringloop load --help lists them)`);
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && m) throw new ConfigError(`${m[1]} needs a value`);
    throw new ConfigError(err.message.split('\n')[0]!);
  }
  const v = parsed.values;
  const out: LoadArgs = { options: { url: '' }, call: '', json: !!v.json, quiet: !!v.quiet, help: !!v.help };
  if (out.help) return out;
  if (parsed.positionals.length > 0) {
    throw new ConfigError(`unexpected argument ${JSON.stringify(parsed.positionals[0])} (options take the form --name value; see ringloop load --help)`);
  }
  if (v.url === undefined) throw new ConfigError('--url is required (ws://HOST:PORT or tcp://HOST:PORT)');
  try {
    parseTarget(v.url);
  } catch (e) {
    const msg = (e as Error).message;
    throw new ConfigError(msg.startsWith('url ') ? `--${msg}` : `--url: ${msg}`);
  }

  const connections = intOption('connections', v.connections, 8, 1, 100_000);
  const pipeline = intOption('pipeline', v.pipeline, 32, 1, 65_536);
  const batch = intOption('batch', v.batch, 1, 1, 65_536);
  const threads = intOption('threads', v.threads, 1, 1, 64);
  if (threads > connections) throw new ConfigError(`--threads (${threads}) must not exceed --connections (${connections})`);
  const durationS = numOption('duration', v.duration, 5, 0, 86_400, true);
  const warmupS = numOption('warmup', v.warmup, 0, 0, 86_400, false);
  const rate = v.rate === undefined ? undefined : numOption('rate', v.rate, 0, 0, 1e9, true);
  const method = v.method ?? 'echo';
  if (method === '') throw new ConfigError('--method must not be empty');
  const payloadBytes = intOption('payload', v.payload, 32, 0, 64 * 1024 * 1024);
  const payloadType = (v['payload-type'] ?? 'str') as PayloadType;
  if (payloadType !== 'str' && payloadType !== 'bin') throw new ConfigError(`--payload-type must be str or bin, got ${JSON.stringify(payloadType)}`);
  if (v.rounds !== undefined && method !== 'sha256') throw new ConfigError('--rounds applies to --method sha256 only');
  if (v['sleep-ms'] !== undefined && method !== 'sleep') throw new ConfigError('--sleep-ms applies to --method sleep only');
  if (v.verify && method !== 'echo') throw new ConfigError('--verify applies to --method echo only');
  const rounds = intOption('rounds', v.rounds, 1, 1, 1_000_000);
  const sleepMs = intOption('sleep-ms', v['sleep-ms'], 1, 0, 60_000);

  const headers: Record<string, string> = {};
  for (const h of v.header ?? []) {
    const colon = h.indexOf(':');
    const name = colon > 0 ? h.slice(0, colon).trim() : '';
    if (name === '' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n]/.test(h)) {
      throw new ConfigError(`--header must look like "Name: value", got ${JSON.stringify(h)}`);
    }
    headers[name] = h.slice(colon + 1).trim();
  }

  // What to send.
  const payloadSize = `<${payloadBytes}-byte ${payloadType}>`;
  let params: unknown[] | undefined;
  let call: string;
  if (v.params !== undefined) {
    for (const k of ['payload', 'payload-type', 'rounds', 'sleep-ms'] as const) {
      if (v[k] !== undefined) throw new ConfigError(`--params replaces --${k}; give one or the other`);
    }
    let p: unknown;
    try {
      p = JSON.parse(v.params);
    } catch (e) {
      throw new ConfigError(`--params is not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(p)) throw new ConfigError('--params must be a JSON array, e.g. --params \'[1, 2]\'');
    params = p;
    call = `${method} [${p.map(describe).join(', ')}]`;
  } else if (method === 'sha256') {
    params = [payloadType === 'str' ? payloadString(payloadBytes) : Buffer.from(payloadString(payloadBytes), 'latin1'), rounds];
    call = `sha256 [${payloadSize}, ${rounds}]`;
  } else if (method === 'sleep') {
    params = [sleepMs];
    call = `sleep [${sleepMs}]`;
  } else if (method === 'add') {
    params = [1, 2];
    call = 'add [1, 2]';
  } else if (method === 'fail') {
    params = ['ringloop load'];
    call = 'fail ["ringloop load"]';
  } else {
    call = `${method} [${payloadSize}]`;
  }

  out.call = call;
  out.options = {
    url: v.url,
    connections,
    pipeline,
    batch,
    durationS,
    warmupS,
    method,
    payloadBytes,
    payloadType,
    params,
    verify: !!v.verify,
    headers: Object.keys(headers).length ? headers : undefined,
    insecure: !!v.insecure,
    ca: typeof v.ca === 'string' ? readCa(v.ca) : undefined,
    rate,
    threads,
    reconnect: !!v.reconnect,
  };
  return out;
}

/** The same bytes as the engine's echo payload. */
function payloadString(bytes: number): string {
  const pattern = 'ringloop-load-0123456789abcdefghijklmnopqrstuvwxyz';
  return pattern.repeat(Math.ceil(bytes / pattern.length)).slice(0, bytes);
}

export async function loadMain(argv: string[]): Promise<void> {
  if (argv.includes('--fanout')) return (await import('./load-fanout')).fanoutMain(argv);
  const args = parseLoadArgs(argv);
  if (args.help) {
    process.stdout.write(loadUsage() + '\n');
    return;
  }
  const o = args.options;
  const err = process.stderr;
  const tty = !args.quiet && err.isTTY === true;
  const lines = !args.quiet && !tty;
  let shown = false;
  const show = (line: string): void => {
    if (tty) {
      err.write(`\r\x1b[2K${line.slice(0, Math.max(20, (err.columns || 120) - 1))}`);
      shown = true;
    } else if (lines) {
      err.write(`ringloop load: ${line}\n`);
    }
  };
  const clear = (): void => {
    if (shown) err.write('\r\x1b[2K');
    shown = false;
  };
  const onProgress = (p: LoadProgress): void => show(formatProgress(p, p.phase === 'warmup' ? o.warmupS ?? 0 : o.durationS ?? 5));

  // Ctrl-C: the first ends the window early (a report still comes), the second quits.
  const stop = new AbortController();
  const onSigint = (): void => {
    if (stop.signal.aborted) {
      clear();
      process.exit(130);
    }
    stop.abort();
    clear();
    if (!args.quiet) err.write('ringloop load: interrupted, reporting what was measured (Ctrl-C again to quit)\n');
  };
  process.on('SIGINT', onSigint);
  show(
    `${o.connections} connection${o.connections === 1 ? '' : 's'} to ${o.url}` +
      `${(o.threads ?? 1) > 1 ? ` on ${o.threads} threads` : ''}, ${args.call}, ` +
      `${o.rate !== undefined ? `open loop at ${o.rate} req/s` : 'closed loop'}: connecting`,
  );
  try {
    const report = await runLoad({
      ...o,
      signal: stop.signal,
      progressIntervalMs: tty ? 250 : 1000,
      onProgress: tty || lines ? onProgress : undefined,
      onPhase: (p) => {
        if (p === 'drain') {
          clear();
          if (lines) err.write('ringloop load: window closed, draining\n');
        }
      },
    });
    clear();
    if (args.json) process.stdout.write(JSON.stringify({ ...report, call: args.call }) + '\n');
    else process.stdout.write(formatReport(report, args.call) + '\n');
  } finally {
    clear();
    process.removeListener('SIGINT', onSigint);
  }
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--ca ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
