/**
 * The client's pub/sub against a real server (CONTRACT.md "Pub/sub"): the chat example as a user runs it
 * (examples/chat/serve.js: a ringloop server with the chat plugin, and the page) in two Chromium pages,
 * the browser bundle's subscribe/publish, and the Node client resubscribing after a server kill and restart.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { connect } from '../lib/client';
import { ROOT, startCli, delay } from './helpers/client';
import { BUNDLE, launchChromium, serveStatic } from './helpers/browser';
import { freeze, killTree } from './helpers/reactor-proc';

function startChat(): Promise<{ proc: ChildProcess; url: string; ws: number }> {
  const proc = spawn(process.execPath, [path.join(ROOT, 'examples', 'chat', 'serve.js'), '--port', '0', '--http-port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"msg":"chat ready".*\}/.exec(out);
      if (m) {
        const j = JSON.parse(m[0]) as { url: string; ws: number };
        resolve({ proc, url: j.url, ws: j.ws });
      }
    });
    proc.on('exit', (code) => reject(new Error(`chat exited ${code}: ${err}`)));
  });
}

describe('chat example (examples/chat) in Chromium', function () {
  this.timeout(30000);
  let browser: Browser;
  let chat: Awaited<ReturnType<typeof startChat>>;
  before(async () => {
    chat = await startChat();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    chat?.proc.kill('SIGTERM');
  });

  it('two pages in one room exchange messages; a page in another room hears nothing', async () => {
    const pages = await Promise.all([browser.newPage(), browser.newPage(), browser.newPage()]);
    const [alice, bob, carol] = pages;
    for (const [pg, name, room] of [[alice, 'alice', 'lobby'], [bob, 'bob', 'lobby'], [carol, 'carol', 'other']] as const) {
      await pg.goto(chat.url);
      await pg.fill('#name', name);
      await pg.fill('#room', room);
      await pg.click('#join');
      await pg.waitForSelector('#text:not([disabled])');
    }
    const say = async (pg: typeof alice, text: string): Promise<void> => {
      await pg.fill('#text', text);
      await pg.press('#text', 'Enter');
    };
    await say(alice, 'hello bob');
    await bob.waitForSelector('#log li:has-text("hello bob")');
    await say(bob, 'hi alice');
    await alice.waitForSelector('#log li:has-text("hi alice")');
    const lines = (pg: typeof alice): Promise<string[]> => pg.$$eval('#log li .from', (l) => l.map((x) => `${x.textContent}: ${x.nextSibling?.textContent}`));
    expect(await lines(alice)).to.deep.equal(['alice: hello bob', 'bob: hi alice']);
    expect(await lines(bob)).to.deep.equal(['alice: hello bob', 'bob: hi alice']);
    expect(await lines(carol)).to.deep.equal([]);
    await Promise.all(pages.map((p) => p.close()));
  });
});

describe('client pub/sub against a real server', function () {
  this.timeout(30000);

  it('the browser bundle subscribes, publishes and receives in Chromium', async () => {
    const srv = await startCli(['serve', '--port', '0', '--workers', '1']);
    const web = await serveStatic({ '/': path.join(ROOT, 'spec', 'fixtures', 'client-page.html'), '/ringloop-client.js': BUNDLE });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(web.url + '/');
      await page.waitForFunction('document.title === "loaded"');
      const got = await page.evaluate(async (url) => {
        const { connect } = (globalThis as unknown as { ringloop: typeof import('../lib/client/browser') }).ringloop;
        const a = connect(url);
        const b = connect(url);
        const seen: unknown[] = [];
        const sub = await a.subscribe('room.a', (d, topic) => seen.push([topic, d]));
        const published = await b.publish('room.a', { text: 'hi', n: 1 });
        const bad = await b.publish('not a topic', 1).catch((e: { code: string }) => e.code);
        while (seen.length < 1) await new Promise((r) => setTimeout(r, 10));
        await sub.unsubscribe();
        await b.publish('room.a', 'unheard');
        await new Promise((r) => setTimeout(r, 50));
        await Promise.all([a.close(), b.close()]);
        return { seen, published, bad };
      }, srv.url);
      expect(got).to.deep.equal({ seen: [['room.a', { text: 'hi', n: 1 }]], published: true, bad: 'INVALID_PARAMS' });
    } finally {
      await browser.close();
      await web.close();
      srv.proc.kill('SIGKILL');
    }
  });

  it('subscribes and publishes through the server, and resubscribes after the server is killed and restarted', async () => {
    const first = await startCli(['serve', '--port', '0', '--workers', '1']);
    const c = connect(first.url, { pingInterval: 150, reconnect: { initialDelay: 20, maxDelay: 100 } });
    const other = connect(first.url, { pingInterval: 150, reconnect: { initialDelay: 20, maxDelay: 100 } });
    let second: Awaited<ReturnType<typeof startCli>> | undefined;
    try {
      const got: unknown[] = [];
      await c.subscribe('news.today', (d) => got.push(d));
      expect(await other.publish('news.today', { n: 1 })).to.equal(true);
      const bad = await c.subscribe('bad topic!', () => undefined).catch((e: { code: string }) => e.code);
      expect(bad).to.equal('INVALID_PARAMS');
      const resubscribed = new Promise<string[]>((resolve) => c.on('resubscribed', (i) => resolve(i.topics)));
      freeze(first.proc.pid!); // frozen: both clients drop it by ping, so the port is free once it is killed
      await delay(600);
      killTree(first.proc.pid!);
      await first.exited;
      second = await startCli(['serve', '--port', String(first.port), '--workers', '1']);
      expect(await resubscribed).to.deep.equal(['news.today']);
      expect(await other.publish('news.today', { n: 2 })).to.equal(true);
      while (got.length < 2) await delay(10);
      expect(got).to.deep.equal([{ n: 1 }, { n: 2 }]);
    } finally {
      await c.close();
      await other.close();
      first.proc.kill('SIGKILL');
      second?.proc.kill('SIGKILL');
    }
  });
});
