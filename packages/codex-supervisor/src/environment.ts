// SPDX-License-Identifier: Apache-2.0
// The environment a bot sees: a short allow-list from the host, its own variables and its fleet identity. Nothing
// else of the server's environment (API keys, database URLs) can reach a bot.
import type { Bot, BotIdentity } from '@ecps/codex-registry';

/** Host variables every bot sees (when the host has them). */
export const HOST_VARIABLES = ['PATH', 'LANG', 'LC_ALL', 'TZ'] as const;

/**
 * The variables a bot's identity becomes: an ECPS node reads `ECPS_NODE_ID` (and `ECPS_PROFILE`) through
 * `@ecps/runtime`'s configuration, a SW4RM agent its service addresses as `SW4RM_<ROLE>_ADDR` like `@ecps/sw4rm`'s
 * clients; the broker URL and key reference are handed over as `ECPS_BROKER_URL` / `ECPS_KEY_REF` (`SW4RM_KEY_REF`).
 */
export function identityEnvironment(identity: BotIdentity | null | undefined): Record<string, string> {
  if (!identity) return {};
  const out: Record<string, string | undefined> =
    identity.kind === 'ecps_node'
      ? { ECPS_NODE_ID: identity.node_id, ECPS_BROKER_URL: identity.broker_url, ECPS_KEY_REF: identity.key_ref, ECPS_PROFILE: identity.profile }
      : {
          SW4RM_AGENT_ID: identity.agent_id,
          SW4RM_ROUTER_ADDR: identity.router_addr,
          SW4RM_REGISTRY_ADDR: identity.registry_addr,
          SW4RM_SCHEDULER_ADDR: identity.scheduler_addr,
          SW4RM_KEY_REF: identity.key_ref,
        };
  return Object.fromEntries(Object.entries(out).filter((e): e is [string, string] => e[1] !== undefined));
}

/**
 * The complete environment of `bot`'s process: the host allow-list and `passthrough` names, then the bot's
 * `environment_vars`, then its identity, then `CODEX32_BOT_ID` and `PYTHONUNBUFFERED=1` (later entries win), plus
 * `extra` (HOME and TMPDIR of a sandbox).
 */
export function botEnvironment(bot: Bot, host: Readonly<Record<string, string | undefined>>, passthrough: readonly string[], extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...HOST_VARIABLES, ...passthrough]) {
    const value = host[name];
    if (value !== undefined) env[name] = value;
  }
  return {
    ...env,
    ...bot.deployment_config.environment_vars,
    ...identityEnvironment(bot.deployment_config.identity),
    ...extra,
    CODEX32_BOT_ID: bot.id,
    PYTHONUNBUFFERED: '1',
  };
}
