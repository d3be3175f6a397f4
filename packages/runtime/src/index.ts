// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/runtime.

export { createNode } from './create-node';
export { resolveNodeConfig, NODE_CONFIG_DEFAULTS } from './config';
export { createNodeFromConfig, resolveNodeSettings, HardwareUnavailableError } from './node-from-config';
export { SETTINGS, ConfigError, resolveSettings, redactSettings } from './settings';
export { loadConfigFile, MAX_CONFIG_FILE_BYTES } from './config-file';
export { BACKEND_PACKAGES, BackendMissingError, loadBackend } from './backends';

export type { EcpsNode, NodeOptions, TransportContext, PublishMessageOptions, MessageHandler } from './create-node';
export type { NodeConfig } from './config';
export type { NodeFromConfigOptions, ConfiguredNode, EffectiveConfig, EffectiveTrust } from './node-from-config';
export type { NodeSettings, NodeSettingsInput, SecurityLevel, SettingSpec, SettingSource, ResolveSettingsInput, ResolvedSettings } from './settings';
export type { ImportBackend, BackendModule } from './backends';
export type { NodeCoordination, NodeElectionOptions } from './coordination-from-config';
export type { NodeLtpOptions } from './layers/ltp';
export type { NodeMcpOptions } from './layers/mcp';
export type { NodeTrust } from './layers/trust';
export type { ObservabilityOption } from './layers/observability';
export type { MepLayer, MepNodeOptions } from './layers/mep';
export type { NodeEapOptions } from './layers/eap';
