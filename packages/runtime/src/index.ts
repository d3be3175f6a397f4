// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/runtime.

export { createNode } from './create-node';
export { resolveNodeConfig, NODE_CONFIG_DEFAULTS } from './config';

export type { EcpsNode, NodeOptions, TransportContext, PublishMessageOptions, MessageHandler } from './create-node';
export type { NodeConfig } from './config';
export type { NodeLtpOptions } from './layers/ltp';
export type { NodeMcpOptions } from './layers/mcp';
export type { NodeTrust } from './layers/trust';
export type { ObservabilityOption } from './layers/observability';
export type { MepLayer, MepNodeOptions } from './layers/mep';
