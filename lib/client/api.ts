/** What both entry points (Node and browser) export. */
export { RingloopClient, type CallOptions, type ClientEvents, type ClientEvent } from './client';
export { ClientErrorCode, RingloopError } from './codes';
export type { ClientOptions, ReconnectPolicy } from './options';
export type { Subscription } from './subscriptions';
