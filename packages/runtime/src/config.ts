// SPDX-License-Identifier: Apache-2.0
// The identity settings createNode needs: built-in defaults < file named by ECPS_CONFIG < ECPS_* environment < options.
import { assertNodeId, getProfile, type ProfileName } from '@ecps/core';
import { configFileFromEnv } from './config-file';

export interface NodeConfig {
  /** Node id (`ECPS_NODE_ID`). */
  nodeId: string;
  /** Conformance profile (`ECPS_PROFILE`): edge-lite | standard | cloud-fleet. */
  profile: ProfileName;
  /** Prepended to every topic (`ECPS_TOPIC_PREFIX`). */
  topicPrefix: string;
}

export const NODE_CONFIG_DEFAULTS: NodeConfig = { nodeId: '', profile: 'standard', topicPrefix: '' };

const ENV_NAMES: Record<keyof NodeConfig, string> = { nodeId: 'ECPS_NODE_ID', profile: 'ECPS_PROFILE', topicPrefix: 'ECPS_TOPIC_PREFIX' };

/**
 * Resolves a node's id, profile and topic prefix through every layer of precedence and validates them (the other
 * settings are `resolveSettings`'s). Throws `INVALID_ARGUMENT` for a bad node id or profile, `CONFIG_INVALID` for a
 * bad config file.
 */
export function resolveNodeConfig(
  options: { [K in keyof NodeConfig]?: NodeConfig[K] | undefined },
  env: Readonly<Record<string, string | undefined>> = process.env,
): NodeConfig {
  const complete = options.nodeId !== undefined && options.profile !== undefined && options.topicPrefix !== undefined;
  const file = complete ? {} : (configFileFromEnv(env) ?? {});
  const config = { ...NODE_CONFIG_DEFAULTS };
  for (const key of Object.keys(ENV_NAMES) as Array<keyof NodeConfig>) {
    const value = options[key] ?? env[ENV_NAMES[key]] ?? file[key];
    if (value !== undefined) (config as Record<string, unknown>)[key] = value;
  }
  assertNodeId(config.nodeId);
  getProfile(config.profile);
  return config;
}
