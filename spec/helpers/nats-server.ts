/**
 * A real nats-server (Debian package `nats-server`, installed by .ci/run) on
 * free ports, started and stopped by a spec. It can be stopped and started
 * again on the same port to test an outage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

export { freePort };

export class NatsServer {
  private proc: ChildProcess | null = null;
  private readonly conf: string;

  private constructor(
    readonly port: number,
    readonly monitorPort: number,
    maxPayload: number,
  ) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ringloop-nats-'));
    this.conf = path.join(dir, 'nats.conf');
    writeFileSync(this.conf, `listen: 127.0.0.1:${port}\nhttp: 127.0.0.1:${monitorPort}\nmax_payload: ${maxPayload}\n`);
  }

  static async start(maxPayload = 1024 * 1024): Promise<NatsServer> {
    const s = new NatsServer(await freePort(), await freePort(), maxPayload);
    await s.up();
    return s;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** (Re)starts the server on its port; resolves once it accepts connections. */
  async up(): Promise<void> {
    const proc = spawn('nats-server', ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const deadline = Date.now() + 5000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`nats-server exited: ${err}`);
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) throw new Error(`nats-server did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async down(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (p === null || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGKILL');
    });
  }

  /** Subjects this server has subscriptions for (monitoring endpoint /subsz). */
  async subjects(): Promise<string[]> {
    const res = await fetch(`http://127.0.0.1:${this.monitorPort}/subsz?subs=1`);
    const j = (await res.json()) as { subscriptions_list?: Array<{ subject: string }> };
    return (j.subscriptions_list ?? []).map((s) => s.subject).sort();
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
