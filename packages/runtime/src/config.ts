// SPDX-License-Identifier: Apache-2.0
// Node configuration: built-in defaults < file named by ECPS_CONFIG < ECPS_* environment < explicit options.
import { assertNodeId, getProfile, resolveConfig, type ProfileName } from '@ecps/core';

export interface NodeConfig {
  /** Node id (`ECPS_NODE_ID`). */
  nodeId: string;
  /** Conformance profile (`ECPS_PROFILE`): edge-lite | standard | cloud-fleet. */
  profile: ProfileName;
  /** Prepended to every topic (`ECPS_TOPIC_PREFIX`). */
  topicPrefix: string;
}

export const NODE_CONFIG_DEFAULTS: NodeConfig = { nodeId: '', profile: 'standard', topicPrefix: '' };

/**
 * Resolves a node's configuration through every layer of precedence and validates it.
 * Throws `INVALID_ARGUMENT` for a bad node id or profile, `CONFIG_INVALID` for a bad config file.
 */
export function resolveNodeConfig(options: { [K in keyof NodeConfig]?: NodeConfig[K] | undefined }, env?: Readonly<Record<string, string | undefined>>): NodeConfig {
  const config = resolveConfig<NodeConfig & Record<string, unknown>>({
    defaults: { ...NODE_CONFIG_DEFAULTS },
    options: Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    ...(env ? { env } : {}),
  });
  assertNodeId(config.nodeId);
  getProfile(config.profile);
  return config;
}
