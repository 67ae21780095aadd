/**
 * Test clients over real sockets: a MessagePack-RPC client on the `ws`
 * library, plus helpers to start reactors in-process or as a CLI process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import { decodeAny } from '../../lib/protocol/codec';
import { ReplyBook } from './replies';

export type { Reply } from './replies';
import { createReactor, type CreateReactorOptions, type Reactor } from '../../lib/server/reactor';
import { demoPlugin } from '../../lib/plugins/demo';

export interface Closed {
  code: number;
  reason: string;
}

export class RpcClient extends ReplyBook {
  readonly frames: Buffer[] = [];
  readonly closed: Promise<Closed>;

  private constructor(readonly ws: WebSocket) {
    super();
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) throw new Error('server sent a text frame');
      this.frames.push(data);
      for (const m of decodeAny(data)) this.received(m);
    });
  }

  static connect(url: string, options?: WebSocket.ClientOptions): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options);
      const c = new RpcClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  protected send(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  sendRaw(bytes: Uint8Array | string, binary = true): void {
    this.ws.send(bytes, { binary });
  }

  close(): void {
    this.ws.close();
  }
}

export interface TestServer {
  reactor: Reactor;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** An in-process reactor with the demo plugin on a free port; logs off unless RINGLOOP_TEST_LOG is set. */
export async function startReactor(opts: CreateReactorOptions = {}, setup?: (r: Reactor) => unknown): Promise<TestServer> {
  const reactor = createReactor({ port: 0, logLevel: process.env.RINGLOOP_TEST_LOG ?? 'silent', ...opts });
  await reactor.register(demoPlugin, undefined);
  if (setup) await setup(reactor);
  const { port } = await reactor.listen();
  return { reactor, port, url: `ws://127.0.0.1:${port}`, close: () => reactor.close() };
}

export const ROOT = path.resolve(__dirname, '../../..');
export const BIN = path.join(ROOT, 'bin', 'ringloop.js');

export interface CliServer {
  proc: ChildProcess;
  port: number;
  url: string;
  logs: Array<Record<string, unknown>>;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `ringloop serve <args>` and waits for its "listening" line and a reactor's. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliServer> {
  return awaitListening(spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/**
 * Collects a `ringloop serve` process's log lines; resolves once the supervisor's line (the port) and a
 * reactor's (specs measure its pid) have both arrived: they reach the pipe in either order.
 * `withStderr`: the server's `stdout()` also holds what it wrote to stderr.
 */
export function awaitListening(proc: ChildProcess, withStderr = false): Promise<CliServer> {
  let out = '';
  let err = '';
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const j = JSON.parse(line) as Record<string, unknown>;
          logs.push(j);
          const sup = logs.find((l) => l.msg === 'listening');
          if (sup !== undefined && logs.some((l) => l.msg === 'reactor listening')) {
            const port = sup.port as number;
            resolve({ proc, port, url: `ws://127.0.0.1:${port}`, logs, stdout: () => (withStderr ? out + err : out), exited });
          }
        } catch {
          /* not a log line */
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void exited.then(({ code }) => reject(new Error(`ringloop exited ${code} before listening: ${err.trim()}`)));
  });
}

/** Runs `ringloop <args>` to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 10000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`ringloop ${args.join(' ')} did not exit within ${timeoutMs} ms; stdout: ${stdout.slice(-500)}`));
    }, timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it holds (a throw counts as not yet, e.g. a scrape refused mid-restart); throws after `ms`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

/** HTTP GET over a real socket. */
export async function httpGet(port: number, p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { headers });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}
