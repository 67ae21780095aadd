/**
 * ringloop's public entry: create a reactor, register methods, handler
 * objects and plugins, listen, close.
 *
 * ```ts
 * import { createReactor, demoPlugin } from 'ringloop';
 * const reactor = createReactor({ port: 9000 });
 * reactor.method('hello', ([name]) => `hello ${name}`);
 * await reactor.register(demoPlugin, undefined);
 * await reactor.listen();
 * process.on('SIGTERM', () => reactor.close().then(() => process.exit(0)));
 * ```
 */
export { createReactor, Reactor, type CreateReactorOptions, type ListenInfo, type ReactorPoolOptions } from './server/reactor';
export { WorkerPool, CallbackTask, type PoolOptions, type PoolTask, type PoolPluginRef, type PoolObserver, type TaskOutcome } from './pool/pool';
export type { ReactorOptions } from './reactor/options';
export type { Connection, EventHandler, RpcMessage, CallContext, MethodFn, MethodOptions, TransportKind } from './reactor/types';
export { ErrorCode, CloseCode, RpcError, ConfigError, invalidParams, type RpcErrorBody } from './errors';
export { definePlugin, type Plugin } from './plugins/plugin';
export { demoPlugin } from './plugins/demo';
export { encodeRequest, encodeNotification, encodeResult, encodeError, decodeAny } from './protocol/codec';
export { PubSub, type PubSubApi, type TopicAuthorizer, type TopicRequest, type TopicAction } from './pubsub/pubsub';
export { isTopic, checkTopic } from './pubsub/topic';
export { Relay, type RelayOptions, type RelayPeer } from './pubsub/relay';
