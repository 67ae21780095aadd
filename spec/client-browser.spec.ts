/** The browser ESM bundle in a real headless Chromium against a real reactor (and the scripted server for pub/sub semantics). */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startReactor, ROOT, type TestServer } from './helpers/client';
import { BUNDLE, launchChromium, serveStatic } from './helpers/browser';
import { ScriptServer } from './helpers/script-server';

describe('client in Chromium (browser bundle)', function () {
  this.timeout(30000);
  let browser: Browser;
  let web: Awaited<ReturnType<typeof serveStatic>>;
  let srv: TestServer;
  let page: Page;

  before(async () => {
    expect(fs.existsSync(BUNDLE), 'npm run build makes the bundle').to.equal(true);
    web = await serveStatic({ '/': path.join(ROOT, 'spec', 'fixtures', 'client-page.html'), '/ringloop-client.js': BUNDLE });
    srv = await startReactor();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await srv?.close();
    await web?.close();
  });
  beforeEach(async () => {
    page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(web.url + '/');
    await page.waitForFunction('document.title === "loaded"');
    expect(errors).to.deep.equal([]);
  });
  afterEach(() => page.close());

  it('loads as an ES module exporting connect and the client error codes', async () => {
    const names = await page.evaluate(() => Object.keys((globalThis as unknown as { ringloop: object }).ringloop).sort());
    expect(names).to.include.members(['connect', 'ClientErrorCode', 'RingloopError', 'RingloopClient']);
  });

  it('calls a real server: results, binary, errors with their codes, client timeouts', async () => {
    const out = await page.evaluate(async (url) => {
      const { connect } = (globalThis as unknown as { ringloop: typeof import('../lib/client/browser') }).ringloop;
      const c = connect(url, { token: 'ignored-by-this-server' });
      const [sum, echoed, bin] = await Promise.all([c.call('add', [2, 40]), c.call('echo', [{ a: [1, 'x', null] }]), c.call('echo', [new Uint8Array([1, 2, 3])])]);
      const err = await c.call('add', ['x']).catch((e: { code: string; name: string }) => `${e.name} ${e.code}`);
      const slow = await c.call('sleep', [300], { timeout: 30 }).catch((e: { code: string }) => e.code);
      await c.close();
      return { sum, echoed, bin: Array.from(bin as Uint8Array), isU8: bin instanceof Uint8Array, err, slow };
    }, srv.url);
    expect(out).to.deep.equal({ sum: 42, echoed: { a: [1, 'x', null] }, bin: [1, 2, 3], isU8: true, err: 'RingloopError INVALID_PARAMS', slow: 'CLIENT_TIMEOUT' });
  });

  it('sends its token as ?token= (browsers cannot set headers) to a server that requires one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringloop-browser-token-'));
    fs.writeFileSync(path.join(dir, 'tokens'), 'page-token\n');
    const auth = await startReactor({ authTokenFile: path.join(dir, 'tokens') });
    try {
      const out = await page.evaluate(async (url) => {
        const { connect } = (globalThis as unknown as { ringloop: typeof import('../lib/client/browser') }).ringloop;
        const good = connect(url, { token: 'page-token' });
        const bad = connect(url, { token: 'nope', reconnect: false });
        const ok = await good.call('echo', ['with token']);
        const refused = await bad.call('echo', [1]).catch((e: { code: string }) => e.code);
        await Promise.all([good.close(), bad.close()]);
        return { ok, refused };
      }, auth.url);
      expect(out).to.deep.equal({ ok: 'with token', refused: 'RECONNECT_FAILED' });
    } finally {
      await auth.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('subscribes, publishes and receives (pub/sub wire contract); calls of one tick leave as one message', async () => {
    const s = await ScriptServer.start();
    try {
      const got = await page.evaluate(async (url) => {
        const { connect } = (globalThis as unknown as { ringloop: typeof import('../lib/client/browser') }).ringloop;
        const c = connect(url);
        const seen: unknown[] = [];
        const sub = await c.subscribe('room.a', (d) => seen.push(d));
        await c.publish('room.a', { text: 'hi' });
        await new Promise((r) => setTimeout(r, 50));
        await sub.unsubscribe();
        await c.publish('room.a', 'unheard');
        await new Promise((r) => setTimeout(r, 50));
        await c.close();
        return seen;
      }, s.url);
      expect(got).to.deep.equal([{ text: 'hi' }]);
      const batched = await page.evaluate(async (url) => {
        const { connect } = (globalThis as unknown as { ringloop: typeof import('../lib/client/browser') }).ringloop;
        const c = connect(url);
        await c.opened();
        const r = await Promise.all([1, 2, 3, 4, 5].map((i) => c.call('echo', [i])));
        await c.close();
        return r;
      }, s.url);
      expect(batched).to.deep.equal([1, 2, 3, 4, 5]);
      expect(s.conns[1].messages).to.deep.equal([5]); // five calls of one tick, one WebSocket message
    } finally {
      await s.close();
    }
  });
});
