/**
 * Behind HAProxy (issue 11): the ready configuration in
 * examples/haproxy/haproxy.cfg, run as is (ports rewritten), in front of two
 * `ringloop serve` instances restarted one after the other (README, "Several
 * instances behind HAProxy") under `ringloop load --reconnect` over
 * WebSocket and raw TCP: zero errors. Needs the `haproxy` binary (.ci/run
 * installs the Debian package).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, delay, httpGet, startCli, until, type CliServer } from './helpers/client';
import { startLoad } from './helpers/load-process';
import { restartablePorts } from './helpers/ports';

const EXAMPLE = path.join(ROOT, 'examples', 'haproxy', 'haproxy.cfg');

interface Ports {
  ws: number;
  tcp: number;
  stats: number;
  /** Instance i: [WebSocket/HTTP port, TCP port]. */
  inst: Array<[number, number]>;
}

/** The example configuration with its ports replaced (and nothing else). */
function configFor(p: Ports): string {
  const subst: Array<[string, number]> = [
    ['127.0.0.1:8000', p.ws],
    ['127.0.0.1:8001', p.tcp],
    ['127.0.0.1:8404', p.stats],
    ['127.0.0.1:9001', p.inst[0]![0]],
    ['127.0.0.1:9002', p.inst[1]![0]],
    ['127.0.0.1:9101', p.inst[0]![1]],
    ['127.0.0.1:9102', p.inst[1]![1]],
    ['port 9001', p.inst[0]![0]],
    ['port 9002', p.inst[1]![0]],
  ];
  let cfg = readFileSync(EXAMPLE, 'utf8');
  for (const [from, to] of subst) {
    expect(cfg, `the example names ${from}`).to.contain(from);
    cfg = cfg.split(from).join(from.replace(/\d+$/, String(to)));
  }
  return cfg;
}

interface ServerState {
  status: string;
  /** UP → DOWN transitions so far. */
  chkdown: number;
}

/** Server states from HAProxy's stats CSV, keyed `backend/server`. */
async function haproxyStates(statsPort: number): Promise<Map<string, ServerState>> {
  const { body } = await httpGet(statsPort, '/stats;csv');
  const [header, ...rows] = body.trim().split('\n');
  const cols = header!.replace(/^# /, '').split(',');
  const at = (name: string): number => cols.indexOf(name);
  const out = new Map<string, ServerState>();
  for (const row of rows) {
    const f = row.split(',');
    out.set(`${f[at('pxname')]}/${f[at('svname')]}`, { status: f[at('status')]!, chkdown: Number(f[at('chkdown')]) });
  }
  return out;
}

describe('behind HAProxy (examples/haproxy/haproxy.cfg)', function () {
  this.timeout(40000);
  let dir: string;
  let haproxy: ChildProcess | null = null;
  let haproxyLog = '';
  const instances: Array<CliServer | null> = [null, null];
  let ports: Ports;

  const serve = (i: number): Promise<CliServer> =>
    startCli(['serve', '--port', String(ports.inst[i]![0]), '--tcp-port', String(ports.inst[i]![1]), '--workers', '1', '--log-level', 'warn']);

  before(async () => {
    const [ws, tcp, stats, a, at, b, bt] = (await restartablePorts(7)) as [number, number, number, number, number, number, number];
    ports = { ws, tcp, stats, inst: [[a, at], [b, bt]] };
    dir = mkdtempSync(path.join(tmpdir(), 'ringloop-haproxy-'));
    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfg, configFor(ports));
    instances[0] = await serve(0);
    instances[1] = await serve(1);
    haproxy = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout!.on('data', (d: Buffer) => (haproxyLog += d.toString()));
    haproxy.stderr!.on('data', (d: Buffer) => (haproxyLog += d.toString()));
    const spawnFailed = new Promise<never>((_, reject) => haproxy!.once('error', (e) => reject(new Error(`haproxy: ${e.message} (.ci/run installs it)`))));
    await Promise.race([
      spawnFailed,
      until('HAProxy to see both instances UP', async () => {
        const s = await haproxyStates(stats);
        return ['ringloop_ws', 'ringloop_tcp'].every((b) => s.get(`${b}/r1`)?.status === 'UP' && s.get(`${b}/r2`)?.status === 'UP');
      }, 8000),
    ]);
  });

  after(async () => {
    haproxy?.kill('SIGTERM');
    for (const s of instances) {
      if (s && s.proc.exitCode === null) {
        s.proc.kill('SIGTERM');
        await s.exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('the health check passes: GET /healthz through HAProxy is 200', async () => {
    const { status, body } = await httpGet(ports.ws, '/healthz');
    expect(status).to.equal(200);
    expect(body).to.equal('ok');
  });

  it('a rolling restart of both instances under load --reconnect (ws:// and tcp://): zero errors', async () => {
    const common = ['--reconnect', '--pipeline', '8', '--duration', '60'];
    const ws = startLoad(['--url', `ws://127.0.0.1:${ports.ws}`, '--connections', '4', ...common]);
    const tcp = startLoad(['--url', `tcp://127.0.0.1:${ports.tcp}`, '--connections', '2', ...common]);
    try {
      const connected = async (i: number): Promise<number> => {
        const { body } = await httpGet(ports.inst[i]![0], '/metrics');
        return [...body.matchAll(/^ringloop_connections\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
      };
      await until('the load to connect', async () => (await connected(0)) + (await connected(1)) >= 6, 8000);
      await delay(300);
      for (const i of [0, 1]) {
        const name = `r${i + 1}`;
        const downs = (await haproxyStates(ports.stats)).get(`ringloop_ws/${name}`)!.chkdown;
        const old = instances[i]!;
        old.proc.kill('SIGTERM');
        expect((await old.exited).code, `instance ${name} exit`).to.equal(0);
        instances[i] = null;
        instances[i] = await serve(i);
        const restarted = Date.now();
        // Back in HAProxy: UP again after it was seen DOWN (or UP all along, when the restart fell between checks).
        await until(`HAProxy to see ${name} UP again`, async () => {
          const s = await haproxyStates(ports.stats);
          const w = s.get(`ringloop_ws/${name}`)!;
          const seenDown = w.chkdown > downs || Date.now() - restarted > 1500;
          return seenDown && w.status === 'UP' && s.get(`ringloop_tcp/${name}`)!.status === 'UP';
        }, 8000);
      }
      // Every client moved to r1 when r2 went down: the restarted r1 serves.
      await until('the load to run on the restarted r1', async () => (await connected(0)) >= 6, 5000);
      await delay(500);
    } finally {
      ws.stop();
      tcp.stop();
    }
    for (const [what, run] of [['ws', ws], ['tcp', tcp]] as const) {
      const r = await run.report;
      const numbers = JSON.stringify({ requests: r.total.requests, errors: r.total.errors, reconnects: r.reconnects, resends: r.resends, goaways: r.goaways });
      expect(r.total.errors, `${what}: ${numbers}`).to.deep.equal({});
      expect(r.errors).to.deep.equal({});
      expect(r.unanswered).to.equal(0);
      expect(r.total.responses).to.equal(r.total.requests);
      expect(r.results).to.be.greaterThan(1000);
      // Each connection moved at least twice (off r1 or r2, then off the other).
      expect(r.reconnects, `${what}: ${numbers}`).to.be.at.least(r.connections);
      if (process.env.RINGLOOP_SPEC_VERBOSE) process.stderr.write(`      ${what}: ${numbers}\n`);
    }
    expect(haproxyLog).to.not.match(/\[ALERT\]/);
  });
});
