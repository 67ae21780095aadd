/**
 * Raw-socket tools for the hardening specs: a server started under a chosen
 * `ulimit -n`, the server's RSS and descriptor count, hand-made WebSocket
 * frames and a small reader of the server's frames.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { awaitListening, BIN, ROOT, type CliServer } from './client';

/** Servers started here and not yet exited: killed if the test process exits first (mocha --exit, a failed hook). */
const live = new Set<import('node:child_process').ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** `ringloop serve` in a child shell, optionally under `ulimit -n nofile`; resolves once it and its reactor are listening. */
export function startServe(args: string[], nofile: number | string = 0): Promise<CliServer> {
  const argv = ['serve', '--port', '0', '--workers', '1', '--log-level', 'warn', ...args].map((a) => `'${a}'`).join(' ');
  // `nofile`: a descriptor limit, or the shell's own ulimit commands (e.g. soft and hard apart).
  const limit = typeof nofile === 'string' ? `${nofile}; ` : nofile > 0 ? `ulimit -n ${nofile}; ` : '';
  const script = `${limit}exec '${process.execPath}' '${BIN}' ${argv}`;
  const proc = spawn('bash', ['-c', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  proc.on('exit', () => live.delete(proc));
  return awaitListening(proc, true);
}

/** The pid of the (single) reactor process serving the port: `serve` runs reactors as children of a supervisor. */
export function reactorPid(srv: CliServer): number {
  const line = srv.logs.find((l) => l.msg === 'reactor listening');
  if (line === undefined) throw new Error('no "reactor listening" line');
  return line.pid as number;
}

/** True while `pid` exists (it was neither replaced nor ended). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function stop(srv: CliServer): Promise<void> {
  if (srv.proc.exitCode === null && srv.proc.signalCode === null) srv.proc.kill('SIGKILL');
  await srv.exited;
}

export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) * 1024;
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A raw TCP connection that collects everything the server sends. */
export class RawConn {
  data = Buffer.alloc(0);
  closed = false;
  readonly done: Promise<void>;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => (this.data = Buffer.concat([this.data, d])));
    sock.on('error', () => undefined);
    this.done = new Promise((r) => sock.on('close', () => ((this.closed = true), r())));
  }
  static open(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }
  text(): string {
    return this.data.toString('latin1');
  }
  /** Waits until `pred` holds or the socket closes, at most `ms`. */
  async until(pred: (c: RawConn) => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!pred(this) && !this.closed && Date.now() < end) await delay(10);
    return pred(this);
  }
  /** Resolves true once the server closed the connection (false after `ms`). */
  async closedWithin(ms: number): Promise<boolean> {
    return Promise.race([this.done.then(() => true), delay(ms).then(() => false)]);
  }
  destroy(): void {
    this.sock.destroy();
  }
}

export function upgradeRequest(path = '/'): string {
  const key = randomBytes(16).toString('base64');
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

/** A masked client frame (FIN set). */
export function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : n < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 255]) : Buffer.alloc(10);
  if (n >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  const mask = randomBytes(4);
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** Server frames (unmasked) after the 101 response; a trailing partial frame is left out. */
export function serverFrames(raw: Buffer): ServerFrame[] {
  const start = raw.indexOf('\r\n\r\n');
  if (start < 0) return [];
  const out: ServerFrame[] = [];
  let p = start + 4;
  while (p + 2 <= raw.length) {
    const opcode = raw[p]! & 0x0f;
    let n = raw[p + 1]! & 0x7f;
    let h = 2;
    if (n === 126) {
      if (p + 4 > raw.length) break;
      n = raw.readUInt16BE(p + 2);
      h = 4;
    } else if (n === 127) {
      if (p + 10 > raw.length) break;
      n = Number(raw.readBigUInt64BE(p + 2));
      h = 10;
    }
    if (p + h + n > raw.length) break;
    out.push({ opcode, payload: raw.subarray(p + h, p + h + n) });
    p += h + n;
  }
  return out;
}

/** The close frame's code, if the server sent one. */
export function closeCode(raw: Buffer): number | null {
  const f = serverFrames(raw).find((x) => x.opcode === 8);
  return f === undefined ? null : f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
}

/** Sample value of one unlabelled or labelled series in Prometheus text, or null when absent. */
export function metric(text: string, series: string): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return null;
}
