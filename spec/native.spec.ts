import { expect } from 'chai';
import { loadUws, nativeBinaryPath, NativeLayerError } from '../lib/transports/uws-native';
import { runCli } from './helpers/client';

const here = { platform: process.platform, arch: process.arch, modules: process.versions.modules, node: process.versions.node, env: {} };

describe('uWebSockets.js native layer detection', () => {
  it('loads the native binary on this machine', () => {
    const uws = loadUws();
    expect(uws.SSLApp).to.be.a('function');
    expect(nativeBinaryPath(here)).to.match(/uws_linux_x64_115\.node$/);
  });

  it('refuses a Node ABI the package has no binary for, saying which Node is needed', () => {
    expect(() => nativeBinaryPath({ ...here, modules: '127', node: '22.1.0' }))
      .to.throw(NativeLayerError)
      .with.property('message')
      .that.matches(/Node 22\.1\.0 \(ABI 127\).*Node 20/);
  });

  it('refuses a platform without a binary instead of falling back to JS', () => {
    expect(() => loadUws({ ...here, platform: 'freebsd' })).to.throw(NativeLayerError, /freebsd/);
  });

  it('`ringloop serve` refuses to start on the pure-JS fallback', async () => {
    const r = await runCli(['serve', '--port', '0'], { UWS_USE_FALLBACK: '1' });
    expect(r.code).to.not.equal(0);
    expect(r.stderr.trim()).to.match(/^ringloop: .*fallback/);
    expect(r.stdout).to.not.include('"listening"');
  });
});
