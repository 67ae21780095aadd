/*
 * File-descriptor exhaustion (issue 14 item 2), through real sockets against
 * `ringloop serve` started under a low `ulimit -n` in a child process: the
 * server raises its soft limit, caps connections below it, and when a flood
 * of connections exhausts the table it stops accepting instead of spinning,
 * says so once, keeps serving its open connections and recovers by itself.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ROOT, RpcClient, delay, httpGet, type CliServer } from './helpers/client';
import { fdCount, startServe, stop } from './helpers/raw';
import { TcpRpcClient } from './helpers/tcp-client';
import { reactorLine, reactorPid, rssBytes } from './helpers/reactor-proc';
import { freePort } from './helpers/ports';

/**
 * `ringloop serve` under a shell's ulimit, on a fixed port (see native-notes/descriptors.md on port 0),
 * logging at info (the descriptor-limit lines).
 */
async function serveLimited(ulimit: string, args: string[]): Promise<CliServer> {
  return startServe(['--port', String(await freePort()), '--log-level', 'info', ...args], ulimit);
}

function tcpPortOf(srv: CliServer): number {
  return srv.logs.find((l) => l.msg === 'listening')!.tcpPort as number;
}

/** CPU seconds (user + system) the process has used. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Opens n raw TCP connections that send nothing (each one costs the server a descriptor once accepted). */
function flood(port: number, n: number): net.Socket[] {
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    out.push(s);
  }
  return out;
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** `p`, or a failure naming `what` after `ms` (nothing in these specs may hang until mocha's timeout). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

async function eventually<T>(what: string, fn: () => Promise<T>, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await delay(100);
    }
  }
  throw new Error(`${what}: ${(last as Error)?.message ?? String(last)}`);
}

const exhausted = (l: Record<string, unknown>): boolean => typeof l.msg === 'string' && l.msg.startsWith('file descriptors') && l.msg.includes('not accepting');

describe('file-descriptor exhaustion (low ulimit -n in a child process)', function () {
  this.timeout(30000);
  let srv: CliServer | null = null;
  let sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets = [];
    if (srv !== null) await stop(srv);
    srv = null;
  });

  it('runs with the soft RLIMIT_NOFILE at the hard limit and derives --max-connections from it, with a reserve', async () => {
    srv = await serveLimited('ulimit -Sn 100 && ulimit -Hn 300', []);
    const line = await reactorLine(srv.logs);
    expect(line.msg).to.equal('file-descriptor limit');
    expect(line, 'the limit is logged').to.not.equal(undefined);
    // Node itself raises the soft limit at start (so raisedFrom is null here); the next test covers ringloop's own raise.
    expect(line).to.include({ soft: 300, hard: 300, reserve: 18 });
    expect(line.maxConnections).to.equal(300 - (line.open as number) - 18);
    expect(readFileSync(`/proc/${await reactorPid(srv.logs)}/limits`, 'utf8')).to.match(/Max open files\s+300\s+300/);
  });

  it('raises a lowered soft limit to the hard limit itself (prlimit), as Go does', () => {
    const script = `
      const { execFileSync } = require('node:child_process');
      execFileSync('prlimit', ['--pid', String(process.pid), '--nofile=100:300']);
      const { raiseNofile } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'reactor', 'descriptors.js'))});
      console.log(JSON.stringify(raiseNofile()));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script]).toString()) as unknown;
    expect(out).to.deep.equal({ limit: { soft: 300, hard: 300 }, raisedFrom: 100, error: null });
  });

  it('lowers a --max-connections the limit cannot hold, and refuses upgrades past it with 503', async () => {
    srv = await serveLimited('ulimit -n 64', ['--max-connections', '1000']);
    const line = await reactorLine(srv.logs);
    expect(line.msg).to.equal('--max-connections lowered to what the file-descriptor limit can hold');
    expect(line).to.include({ soft: 64, asked: 1000 });
    const cap = line.maxConnections as number;
    expect(cap).to.be.within(1, 64 - 16);
    const url = `ws://127.0.0.1:${srv.port}`;
    const clients: RpcClient[] = [];
    for (let i = 0; i < cap; i++) clients.push(await RpcClient.connect(url));
    let refused = '';
    await RpcClient.connect(url).catch((e: Error) => (refused = e.message));
    expect(refused).to.equal('HTTP 503');
    expect((await clients[0].call('echo', ['still here'])).result).to.equal('still here');
    for (const c of clients) c.close();
  });

  it('tcp: a flood of idle connections stays under the derived cap (extra ones closed at once), no spin, others served', async () => {
    srv = await serveLimited('ulimit -n 64', ['--tcp-port', String(await freePort())]);
    const s = srv;
    const pid = await reactorPid(s.logs);
    const cap = (await reactorLine(s.logs)).maxConnections as number;
    const tcp = await TcpRpcClient.connect(tcpPortOf(s));
    sockets = flood(tcpPortOf(s), 150);
    const closed = await Promise.all(sockets.map((x) => new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), 1500);
      x.on('close', () => (clearTimeout(t), r(true)));
    })));
    // Everything past the cap was accepted and closed at once; the rest are held open and served.
    expect(closed.filter(Boolean).length).to.be.at.least(150 - cap);
    expect(fdCount(pid)).to.be.at.most(64);
    const cpu0 = cpuSeconds(pid);
    await delay(1000);
    expect(cpuSeconds(pid) - cpu0).to.be.below(0.5);
    expect((await tcp.call('add', [1, 2])).result).to.equal(3);
    const text = (await httpGet(s.port, '/metrics')).body;
    expect(metric(text, 'ringloop_connections')).to.be.at.most(cap);
    expect(rssBytes(pid)).to.be.below(400 * 1024 * 1024);
    tcp.close();
  });

  for (const transport of ['ws', 'tcp'] as const) {
    it(`${transport}: a flood of idle sockets on the WebSocket port exhausts the descriptors; no spin, one log line, counted, ${transport} clients served, recovers`, async () => {
      srv = await serveLimited('ulimit -n 64', transport === 'tcp' ? ['--tcp-port', String(await freePort())] : []);
      const s = srv;
      const pid = await reactorPid(s.logs);
      const ws = await RpcClient.connect(`ws://127.0.0.1:${s.port}`);
      const tcp = transport === 'tcp' ? await TcpRpcClient.connect(tcpPortOf(s)) : null;
      // Sockets that never upgrade are uWS HTTP sockets: not connections, not capped, until uWS's HTTP idle timeout.
      sockets = flood(s.port, 150);
      if (transport === 'tcp') sockets.push(...flood(tcpPortOf(s), 50));
      await eventually('server stops accepting', async () => expect(s.logs.some(exhausted)).to.equal(true));
      expect(fdCount(pid)).to.be.at.most(64);
      // While connections wait for it, the reactor idles instead of spinning on accept().
      const cpu0 = cpuSeconds(pid);
      await delay(1500);
      const cpu = (cpuSeconds(pid) - cpu0) / 1.5;
      expect(cpu, 'share of one core used while exhausted').to.be.below(0.5);
      // Open connections are served throughout.
      expect((await within(3000, ws.call('echo', ['served']), 'ws echo while exhausted')).result).to.equal('served');
      if (tcp) expect((await within(3000, tcp.call('add', [1, 2]), 'tcp add while exhausted')).result).to.equal(3);
      expect(rssBytes(pid)).to.be.below(400 * 1024 * 1024);
      // The flood goes away: it accepts again by itself.
      for (const x of sockets) x.destroy();
      sockets = [];
      const logs = (): string => `exit ${String(s.proc.exitCode)}; output ${s.stdout()}; logs ${JSON.stringify(s.logs.slice(-5))}`;
      const again = await eventually('accepting again', async () => {
        const c = await within(1000, RpcClient.connect(`ws://127.0.0.1:${s.port}`), 'ws connect');
        expect((await within(1000, c.call('echo', [1]), 'ws echo')).result).to.equal(1);
        return c;
      }).catch((e: Error) => {
        throw new Error(`${e.message}; ${logs()}`);
      });
      if (transport === 'tcp') {
        const t2 = await eventually('tcp accepting again', async () => {
          const c = await within(1000, TcpRpcClient.connect(tcpPortOf(s)), 'tcp connect');
          expect((await within(1000, c.call('echo', [2]), 'tcp echo')).result).to.equal(2);
          return c;
        }).catch((e: Error) => {
          throw new Error(`${e.message}; ${logs()}`);
        });
        t2.close();
      }
      expect(s.logs.filter(exhausted), 'logged once for the episode').to.have.length(1);
      expect(s.logs.some((l) => l.msg === 'file descriptors available again: accepting')).to.equal(true);
      const text = (await within(3000, httpGet(s.port, '/metrics'), 'GET /metrics')).body;
      expect(metric(text, 'ringloop_accept_pauses_total')).to.equal(1);
      expect(metric(text, 'ringloop_accept_errors_total') + metric(text, 'ringloop_accept_pauses_total')).to.be.at.least(1);
      expect(metric(text, 'ringloop_accept_paused')).to.equal(0);
      ws.close();
      again.close();
      tcp?.close();
    });
  }
});
