import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { RpcClient, runCli, startCli, type CliServer } from './helpers/client';
import { allowedCpus, parseCpuList } from '../lib/reactor/affinity';

function cpusOf(pid: number, tid: number): number[] {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
  return parseCpuList(m![1]!);
}

describe('--reactor-cpu: the reactor thread alone on one CPU, workers on the others', () => {
  let srv: CliServer | null = null;
  afterEach(async () => {
    if (srv !== null) {
      srv.proc.kill('SIGTERM');
      await srv.exited;
      srv = null;
    }
  });

  it('parses Linux CPU lists', () => {
    expect(parseCpuList('0-3,6,8-9\n')).to.deep.equal([0, 1, 2, 3, 6, 8, 9]);
    expect(parseCpuList('1')).to.deep.equal([1]);
    expect(() => parseCpuList('0-x')).to.throw(/unreadable CPU list/);
  });

  it('pins the main thread to the CPU and every other thread (the pool worker too) to the rest, then serves', async function () {
    this.timeout(20000);
    const cpus = allowedCpus();
    // The project's machines have 2 CPUs; the option needs at least 2.
    expect(cpus.length, 'CPUs this test may use').to.be.at.least(2);
    const reactorCpu = cpus[cpus.length - 1]!;
    const others = cpus.filter((c) => c !== reactorCpu);
    srv = await startCli(['serve', '--port', '0', '--workers', '1', '--reactor-cpu', String(reactorCpu), '--log-level', 'info']);
    const pid = srv.logs.find((l) => l.msg === 'reactor listening')!.pid as number; // the reactor process, not the supervisor
    expect(srv.logs.some((l) => l.msg === 'reactor thread pinned' && l.reactorCpu === reactorCpu)).to.equal(true);
    const c = await RpcClient.connect(srv.url);
    // sha256 runs on the worker: its thread exists and has pinned itself by the time this is answered
    expect((await c.call('sha256', ['abc', 1])).result).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect((await c.call('echo', ['still here'])).result).to.equal('still here');
    expect(cpusOf(pid, pid)).to.deep.equal([reactorCpu]);
    const rest = readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((t) => t !== pid);
    expect(rest.length).to.be.greaterThan(0);
    // Threads made before pinning, and the worker (which pins itself), are all off the reactor's CPU.
    const onOthers = rest.filter((t) => JSON.stringify(cpusOf(pid, t)) === JSON.stringify(others));
    const onReactor = rest.filter((t) => cpusOf(pid, t).includes(reactorCpu));
    expect(onOthers.length).to.be.greaterThan(0);
    // Only threads created later by the main thread (libuv's pool) may share its CPU; none exist before any file/DNS work.
    expect(onReactor, `threads still on CPU ${reactorCpu}`).to.deep.equal([]);
    c.close();
  });

  it('refuses a CPU the process may not use, with a message that says so', async () => {
    const r = await runCli(['serve', '--port', '0', '--reactor-cpu', '4095']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/--reactor-cpu 4095: this process may only run on CPUs/);
  });

  it('refuses a value that is not a CPU number', async () => {
    const r = await runCli(['serve', '--port', '0', '--reactor-cpu', 'one']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/--reactor-cpu must be a number/);
  });

  it('--worker-nice N lowers the pool worker threads\' priority only; the reactor thread keeps its own', async function () {
    this.timeout(20000);
    srv = await startCli(['serve', '--port', '0', '--workers', '2', '--worker-nice', '7', '--log-level', 'warn']);
    const pid = srv.logs.find((l) => l.msg === 'reactor listening')!.pid as number; // the reactor process, not the supervisor
    const c = await RpcClient.connect(srv.url);
    expect((await c.call('sha256', ['abc', 1])).result).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    // field 19 of /proc/<pid>/task/<tid>/stat is the nice value (after the parenthesised name)
    const niceOf = (tid: number): number => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    const tids = readdirSync(`/proc/${pid}/task`).map(Number);
    const base = niceOf(pid);
    const lowered = tids.filter((t) => niceOf(t) === Math.min(19, base + 7));
    expect(lowered.length, 'the two workers').to.equal(2);
    expect(lowered).to.not.include(pid);
    c.close();
  });
});
