/**
 * `ringloop load` (issue 5) against a real reactor over real sockets: its
 * counts agree with the server's /metrics, errors are counted by code, the
 * open loop keeps its schedule and does not hide queueing (coordinated
 * omission), threads merge, and bad options get one clear line.
 */
import { expect } from 'chai';
import * as net from 'node:net';
import { analyzeRun } from '../lib/load/analyze';
import type { LoadReport } from '../lib/load';
import { parseLoadArgs } from '../lib/cli/load';
import { ConfigError } from '../lib/errors';
import { httpGet, runCli, startReactor, type TestServer } from './helpers/client';

type Report = LoadReport & { call: string };

/** `ringloop_rpc_requests_total` by outcome, read from GET /metrics. */
async function requestCounts(port: number): Promise<Record<string, number>> {
  const { status, body } = await httpGet(port, '/metrics');
  expect(status).to.equal(200);
  const out: Record<string, number> = {};
  for (const m of body.matchAll(/^ringloop_rpc_requests_total\{outcome="([A-Z_a-z]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** Runs `ringloop load … --json` and returns its one JSON object. */
async function loadJson(args: string[], timeoutMs = 15000): Promise<{ report: Report; stderr: string }> {
  const r = await runCli(['load', ...args, '--json'], {}, timeoutMs);
  expect(r.code, r.stderr).to.equal(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines, 'exactly one line on stdout').to.have.length(1);
  const report = JSON.parse(lines[0]!) as Report;
  expect(report).to.be.an('object');
  return { report, stderr: r.stderr };
}

/** What the server saw must be what the client counted over the whole run. */
function expectAgreement(report: Report, serverDelta: Record<string, number>): void {
  expect(report.unanswered).to.equal(0);
  const serverTotal = Object.values(serverDelta).reduce((a, b) => a + b, 0);
  expect(serverTotal, 'server answered every request sent').to.equal(report.total.requests);
  expect(report.total.responses).to.equal(report.total.requests);
  expect(serverDelta['ok'] ?? 0).to.equal(report.total.results);
  const serverErrors = { ...serverDelta };
  delete serverErrors['ok'];
  expect(serverErrors).to.deep.equal(report.total.errors);
}

function expectSaneLatency(r: Report): void {
  const l = r.latencyMs;
  expect(l.count).to.equal(r.responses);
  expect(l.p50).to.be.greaterThan(0);
  expect(l.p50).to.be.at.most(l.p90);
  expect(l.p90).to.be.at.most(l.p99);
  expect(l.p99).to.be.at.most(l.p999);
  expect(l.p999).to.be.at.most(l.max);
}

describe('ringloop load', function () {
  this.timeout(20000);
  let srv: TestServer;
  let tcpPort: number;
  before(async () => {
    srv = await startReactor({ tcpPort: 0 });
    tcpPort = srv.reactor.listenInfo!.tcpPort!;
  });
  after(() => srv.close());

  it('over ws://: counts agree with /metrics, results verified, progress lines on a non-terminal stderr', async () => {
    const before = await requestCounts(srv.port);
    const { report, stderr } = await loadJson([
      '--url', srv.url, '--connections', '4', '--pipeline', '8', '--batch', '4', '--duration', '1.2', '--verify',
    ]);
    const after = await requestCounts(srv.port);
    expect(report).to.include({ transport: 'ws', mode: 'closed', connections: 4, pipeline: 8, batch: 4, method: 'echo', threads: 1 });
    expect(report.call).to.equal('echo [<32-byte str>]');
    expect(report.responses).to.be.greaterThan(1000);
    expect(report.results).to.equal(report.responses);
    expect(report.errors).to.deep.equal({});
    expect(report.mismatches).to.equal(0);
    expect(report.requestsPerSecond).to.be.closeTo(report.responses / report.durationS, report.requestsPerSecond * 0.01 + 1);
    expectSaneLatency(report);
    expect(report.client.eventLoopUtilization).to.have.length(1);
    expect(report.client.cpuCores).to.be.greaterThan(0);
    expectAgreement(report, diff(after, before));
    // Not a TTY: a starting line, a progress line a second, the end of the window.
    expect(stderr).to.match(/connections to ws:\/\/127\.0\.0\.1:\d+, echo/);
    expect(stderr).to.match(/\[measure 1\.\d\/1\.2 s\] [\d,]+ req\/s, [\d,]+ responses, 0 errors, 4 connections open/);
    expect(stderr).to.contain('window closed');
  });

  it('over tcp://: the same counts, against the reactor’s TCP port', async () => {
    const before = await requestCounts(srv.port);
    const { report } = await loadJson(['--url', `tcp://127.0.0.1:${tcpPort}`, '--method', 'add', '--connections', '2', '--batch', '8', '--duration', '0.5']);
    const after = await requestCounts(srv.port);
    expect(report).to.include({ transport: 'tcp', method: 'add' });
    expect(report.call).to.equal('add [1, 2]');
    expect(report.results).to.be.greaterThan(100);
    expectAgreement(report, diff(after, before));
  });

  it('counts error answers by code (HANDLER_ERROR from fail) and prints them in the table', async () => {
    const before = await requestCounts(srv.port);
    const r = await runCli(['load', '--url', srv.url, '--method', 'fail', '--connections', '2', '--duration', '0.5', '--quiet'], {}, 15000);
    const after = await requestCounts(srv.port);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('');
    const d = diff(after, before);
    expect(Object.keys(d)).to.deep.equal(['HANDLER_ERROR']);
    expect(r.stdout).to.match(/^ {2}requests\/s {5}[\d,]+$/m);
    expect(r.stdout).to.match(/^ {2}latency ms +p50 +p90 +p99 +p99\.9 +max$/m);
    expect(r.stdout).to.match(/^ {2}errors {9}HANDLER_ERROR [\d,]+$/m);
    // The whole run (the window plus what drained after it) is what the server counted.
    const whole = /whole run +([\d,]+) requests sent, ([\d,]+) answered \(0 ok, HANDLER_ERROR ([\d,]+)\)/.exec(r.stdout);
    expect(whole, r.stdout).to.not.equal(null);
    expect(Number(whole![3]!.replace(/,/g, ''))).to.equal(d['HANDLER_ERROR']);
  });

  it('counts METHOD_NOT_FOUND and INVALID_PARAMS, with --params for any method', async () => {
    let before = await requestCounts(srv.port);
    const nf = (await loadJson(['--url', srv.url, '--method', 'no_such_method', '--connections', '1', '--duration', '0.4'])).report;
    let after = await requestCounts(srv.port);
    expect(nf.results).to.equal(0);
    expect(Object.keys(nf.errors)).to.deep.equal(['METHOD_NOT_FOUND']);
    expect(nf.errors['METHOD_NOT_FOUND']).to.equal(nf.responses);
    expectAgreement(nf, diff(after, before));

    before = await requestCounts(srv.port);
    const ip = (await loadJson(['--url', srv.url, '--method', 'add', '--params', '["x", 1]', '--connections', '1', '--duration', '0.4'])).report;
    after = await requestCounts(srv.port);
    expect(ip.call).to.equal('add ["x", 1]');
    expect(Object.keys(ip.total.errors)).to.deep.equal(['INVALID_PARAMS']);
    expectAgreement(ip, diff(after, before));
  });

  it('--threads spreads connections over worker threads and merges their histograms', async () => {
    const before = await requestCounts(srv.port);
    const { report } = await loadJson(['--url', srv.url, '--threads', '2', '--connections', '3', '--method', 'sha256', '--rounds', '3', '--duration', '0.6']);
    const after = await requestCounts(srv.port);
    expect(report).to.include({ threads: 2, connections: 3 });
    expect(report.call).to.equal('sha256 [<32-byte str>, 3]');
    expect(report.client.eventLoopUtilization).to.have.length(2);
    expect(report.results).to.be.greaterThan(50);
    expectSaneLatency(report);
    expectAgreement(report, diff(after, before));
  });

  it('--rate: open loop keeps the schedule and measures from each request’s due time', async () => {
    const before = await requestCounts(srv.port);
    const { report } = await loadJson(['--url', srv.url, '--rate', '2000', '--connections', '2', '--warmup', '0.2', '--duration', '1']);
    const after = await requestCounts(srv.port);
    expect(report.mode).to.equal('open');
    const ol = report.openLoop!;
    expect(ol.targetRate).to.equal(2000);
    expect(ol.sendRate).to.be.within(1800, 2200);
    expect(report.requestsPerSecond).to.be.within(1700, 2300);
    expect(ol.frames).to.equal(report.requests);
    expectSaneLatency(report);
    expectAgreement(report, diff(after, before));
  });

  it('--rate does not hide queueing: a server slower than the rate shows it in latency and in slot waits', async () => {
    // One connection, one request in flight, sleep 25 ms: at most ~40 answers/s.
    const slow = ['--url', srv.url, '--method', 'sleep', '--sleep-ms', '25', '--connections', '1', '--pipeline', '1', '--duration', '1'];
    const closed = (await loadJson(slow)).report;
    const open = (await loadJson([...slow, '--rate', '200'])).report;
    // Closed loop: every request looks like ~25 ms, although most would have waited.
    expect(closed.latencyMs.p99).to.be.within(24, 150);
    expect(open.mode).to.equal('open');
    expect(open.openLoop!.slotWaits).to.be.greaterThan(10);
    expect(open.openLoop!.sendRate).to.be.below(100);
    // A request due at t was sent when the previous answer came back; the wait counts.
    expect(open.latencyMs.max).to.be.greaterThan(300);
    expect(open.latencyMs.p99).to.be.greaterThan(4 * closed.latencyMs.p99);
    expect(open.client.notes.join(' ')).to.contain('waited for a free pipeline slot');
    expect(open.client.notes.join(' ')).to.contain('of the 200 asked for');
  });

  it('reports bad URLs and options in one line on stderr and exits 2; an unreachable server exits 1', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const cases: Array<[string[], RegExp, number]> = [
      [[], /^ringloop: --url is required \(ws:\/\/HOST:PORT or tcp:\/\/HOST:PORT\)$/, 2],
      [['--url', 'localhost:9000'], /^ringloop: --url "localhost:9000" has no scheme/, 2],
      [['--url', 'http://127.0.0.1:9000'], /^ringloop: --url "http:\/\/127\.0\.0\.1:9000" has an unsupported scheme "http" \(ws, wss, tcp or tls\)$/, 2],
      [['--url', 'ws://127.0.0.1:99999'], /^ringloop: --url "ws:\/\/127\.0\.0\.1:99999" is not a valid URL/, 2],
      [['--url', 'tcp://127.0.0.1'], /^ringloop: --url "tcp:\/\/127\.0\.0\.1" needs a port/, 2],
      [['--url', srv.url, '--connections', '0'], /^ringloop: --connections must be an integer 1\.\.100000, got 0$/, 2],
      [['--url', srv.url, '--duration', 'soon'], /^ringloop: --duration must be a number > 0/, 2],
      [['--url', srv.url, '--rate', '-5'], /^ringloop: --rate must be a number > 0/, 2],
      [['--url', srv.url, '--threads', '3', '--connections', '2'], /^ringloop: --threads \(3\) must not exceed --connections \(2\)$/, 2],
      [['--url', srv.url, '--frobnicate'], /^ringloop: unknown option --frobnicate/, 2],
      [['--url', srv.url, '--params', '{"a":1}'], /^ringloop: --params must be a JSON array/, 2],
      [['--url', srv.url, '--rounds', '5'], /^ringloop: --rounds applies to --method sha256 only$/, 2],
      [['--url', `ws://127.0.0.1:${closedPort}`, '--quiet', '--duration', '0.2'], /^ringloop: ws:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/, 1],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['load', ...args], {}, 15000)));
    results.forEach((r, i) => {
      const [args, re, code] = cases[i]!;
      const what = `ringloop load ${args.join(' ')}`;
      expect(r.code, what).to.equal(code);
      expect(r.stdout, what).to.equal('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, `${what}: ${r.stderr}`).to.have.length(1);
      expect(lines[0], what).to.match(re);
    });
  });

  it('--help lists every option', async () => {
    const r = await runCli(['load', '--help']);
    expect(r.code).to.equal(0);
    for (const o of ['--url', '--connections', '--pipeline', '--batch', '--duration', '--method', '--payload', '--json', '--rate', '--threads', '--rounds', '--sleep-ms', '--reconnect']) {
      expect(r.stdout).to.contain(`  ${o} `);
    }
  });

  it('builds each method’s params from the options', () => {
    const p = (args: string[]): ReturnType<typeof parseLoadArgs> => parseLoadArgs(['--url', 'ws://127.0.0.1:9000', ...args]);
    expect(p(['--method', 'sha256', '--rounds', '1000', '--payload', '4']).options.params).to.deep.equal(['ring', 1000]);
    expect(p(['--method', 'sleep', '--sleep-ms', '7']).options.params).to.deep.equal([7]);
    expect(p(['--method', 'echo', '--payload', '3', '--payload-type', 'bin']).options).to.include({ payloadBytes: 3, payloadType: 'bin', params: undefined });
    expect(p(['--rate', '1500.5', '--threads', '2']).options).to.include({ rate: 1500.5, threads: 2, connections: 8, pipeline: 32, batch: 1, durationS: 5 });
    expect(p(['--header', 'Authorization: Bearer abc']).options.headers).to.deep.equal({ Authorization: 'Bearer abc' });
    expect(p(['--reconnect']).options.reconnect).to.equal(true);
    expect(p([]).options.reconnect).to.equal(false);
    expect(() => p(['--header', 'no colon'])).to.throw(ConfigError, '--header must look like "Name: value"');
    expect(() => p(['--params', '[1]', '--payload', '3'])).to.throw(ConfigError, '--params replaces --payload');
    expect(() => p(['--method', 'sleep', '--sleep-ms', '70000'])).to.throw(ConfigError, '--sleep-ms must be an integer 0..60000');
  });

  it('says when the client itself was saturated or fell behind its schedule', () => {
    const base: Report = {
      url: 'ws://x:1', transport: 'ws', connections: 8, pipeline: 32, batch: 1, method: 'echo', payloadBytes: 32, payloadType: 'str',
      warmupS: 0, durationS: 1, requests: 1000, responses: 1000, results: 1000, errors: {}, requestsPerSecond: 1000, framesPerSecond: 1000,
      latencyMs: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1, min: 1, mean: 1, count: 1000 }, mismatches: 0, unexpected: 0, late: 0,
      unanswered: 0, droppedConnections: 0, closes: {}, protocolErrors: 0,
      reconnect: false, goaways: 0, reconnects: 0, reconnectFailures: 0, resends: 0, mode: 'closed', threads: 1, openLoop: null,
      client: { cpuCores: 0.3, eventLoopUtilization: [0.3], saturated: false, notes: [] },
      total: { requests: 1000, responses: 1000, results: 1000, errors: {} }, call: 'echo',
    };
    const fresh = (patch: Partial<Report>): Report => JSON.parse(JSON.stringify({ ...base, ...patch })) as Report;

    const calm = fresh({});
    analyzeRun(calm);
    expect(calm.client).to.include({ saturated: false });
    expect(calm.client.notes).to.deep.equal([]);

    const busy = fresh({ threads: 2, client: { cpuCores: 1.1, eventLoopUtilization: [0.5, 0.97], saturated: false, notes: [] } });
    analyzeRun(busy);
    expect(busy.client.saturated).to.equal(true);
    expect(busy.client.notes[0]).to.match(/^client saturated: load thread 2 was busy 97 % of the window/);

    const behind = fresh({
      mode: 'open',
      openLoop: { targetRate: 1000, sendRate: 900, frames: 900, lateFrames: 100, slotWaits: 0, maxLagMs: 12.5 },
    });
    analyzeRun(behind);
    expect(behind.client.saturated).to.equal(true);
    expect(behind.client.notes.join('\n')).to.match(/client behind schedule: 100 of 900 frames .*\(max lag 12\.5 ms\)/);

    const overloaded = fresh({ errors: { OVERLOADED: 5 }, pipeline: 64, batch: 32 });
    analyzeRun(overloaded);
    expect(overloaded.client.saturated).to.equal(false);
    expect(overloaded.client.notes.join('\n')).to.contain('2048 requests in flight per connection');
  });
});
