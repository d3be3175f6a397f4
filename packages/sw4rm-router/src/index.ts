// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-router.

export { Sw4rmRouter } from './router';
export { startRouter, handleSignals } from './server';
export { DEFAULT_ROUTER_CONFIG, routerConfigFromEnv } from './config';
export { RAW_ROUTER_SERVICE, decodeRawSendRequest, encodeStreamItem } from './wire';

export type { RouterOptions, SendResult, SendOptions, StreamSink } from './router';
export type { StartRouterOptions, RunningRouter } from './server';
export type { RouterConfig } from './config';
export type { RawSendRequest } from './wire';
