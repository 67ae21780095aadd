import { expect } from 'chai';
import { ErrorCode } from '../lib/errors';
import { topicAclPlugin } from '../lib/plugins/examples/topic-acl';
import { delay, startReactor, type TestServer } from './helpers/client';
import { TcpPubClient, WsPubClient } from './helpers/pubsub-client';

describe('pub/sub authorised per connection and topic (examples/topic-acl plugin)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startReactor({ tcpPort: 0 }, (r) => r.register(topicAclPlugin, { users: ['t42=42', 't7=7'] }));
  });
  after(() => srv.close());

  it('lets a user read only its own topics and answers FORBIDDEN otherwise, keeping the connection', async () => {
    const u42 = await WsPubClient.connect(srv.port, '/?token=t42');
    expect((await u42.call('acl.whoami', [])).result).to.equal('42');
    expect((await u42.call('ringloop.subscribe', ['user:42.inbox'])).result).to.equal(true);
    expect((await u42.call('ringloop.subscribe', ['user:42'])).result).to.equal(true);
    const r = await u42.call('ringloop.subscribe', ['user:7.inbox']);
    expect(r.error?.code).to.equal(ErrorCode.FORBIDDEN);
    expect((await u42.call('ringloop.subscribe', ['user:420.inbox'])).error?.code).to.equal(ErrorCode.FORBIDDEN);

    const u7 = await TcpPubClient.connect(srv.reactor.listenInfo!.tcpPort!);
    expect((await u7.call('auth', ['t7'])).result).to.equal(true);
    expect((await u7.call('ringloop.publish', ['user:42.inbox', 'hello 42'])).result).to.equal(true);
    expect((await u7.call('ringloop.publish', ['user:42.secret', 'no'])).error?.code).to.equal(ErrorCode.FORBIDDEN);
    expect((await u7.call('ringloop.publish', ['user:42', 'no'])).error?.code).to.equal(ErrorCode.FORBIDDEN);
    expect((await u42.waitFor(1))[0]).to.deep.equal({ topic: 'user:42.inbox', data: 'hello 42' });
    await delay(50);
    expect(u42.messages).to.have.length(1); // nothing from the refused publications
    expect((await u7.call('echo', ['fine'])).result).to.equal('fine');
    u42.close();
    u7.close();
  });

  it('subscribes a connection from a handler and publishes from server code', async () => {
    const c = await WsPubClient.connect(srv.port, '/?token=t7');
    expect((await c.call('acl.join', ['lobby'])).result).to.equal('public.lobby');
    expect((await c.waitFor(1))[0]).to.deep.equal({ topic: 'public.lobby', data: { joined: '7' } });
    expect((await c.call('acl.join', ['a.*'])).error?.code).to.equal(ErrorCode.INVALID_PARAMS);
    c.close();
  });
});
