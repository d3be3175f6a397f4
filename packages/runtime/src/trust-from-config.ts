// SPDX-License-Identifier: Apache-2.0
// The trust layer from settings: each level's prerequisites read from the files the settings name, through the
// installed @ecps/trust (imported only when a level is configured). Every missing or unusable prerequisite is a
// ConfigError naming its setting, raised before the node opens anything on the network.
import { type Clock, type KeyProvider, type Logger } from '@ecps/core';
import { BACKEND_PACKAGES, loadBackend, type BackendModule, type ImportBackend } from './backends';
import { loadConfigFile, readSettingFile } from './config-file';
import type { NodeTrust } from './layers/trust';
import { ConfigError, type NodeSettings, type SecurityLevel } from './settings';

/** Level order of @ecps/trust (`TrustLevel`): each level includes the ones below it. */
const LEVEL_VALUE: Record<SecurityLevel, number> = { none: 0, encryption: 1, authenticated: 2, authorized: 3, audited: 4 };

/** The numeric trust level of a setting value. */
export function securityLevelValue(level: SecurityLevel): number {
  return LEVEL_VALUE[level];
}

/**
 * Checks that the settings a level needs are present (the files themselves are read by {@link trustFromSettings}).
 * Throws {@link ConfigError} naming the first missing setting.
 */
export function checkTrustSettings(s: NodeSettings): void {
  const level = LEVEL_VALUE[s.security.level];
  const need = (setting: string, why: string): never => {
    throw new ConfigError(`${setting}: ${why}`, { setting });
  };
  // Signing keys are needed unless hardware is required (preferred hardware may fall back to them).
  if (level >= LEVEL_VALUE.authenticated && s.hardware.mode !== 'required' && (!s.security.keystore || !s.security.keystorePassphrase)) {
    const missing = s.security.keystore ? 'ECPS_KEYSTORE_PASSPHRASE' : 'ECPS_KEYSTORE';
    need(missing, `ECPS_SECURITY_LEVEL=${s.security.level} needs a keystore and its passphrase${s.hardware.mode === 'preferred' ? ' (the fallback of preferred hardware)' : ''}`);
  }
  if (level === LEVEL_VALUE.encryption && !s.security.sealingKeystore) {
    need('ECPS_SEALING_KEYSTORE', 'ECPS_SECURITY_LEVEL=encryption seals every payload: it needs the fleet sealing key');
  }
  if (s.security.sealingKeystore && !s.security.sealingPassphrase) need('ECPS_SEALING_PASSPHRASE', 'required with ECPS_SEALING_KEYSTORE');
  if (level >= LEVEL_VALUE.authorized && !s.security.principals) {
    need('ECPS_PRINCIPALS', `ECPS_SECURITY_LEVEL=${s.security.level} authorizes every sender: it needs the RBAC policy file`);
  }
  if (level >= LEVEL_VALUE.audited && !s.security.auditLog) need('ECPS_AUDIT_LOG', 'ECPS_SECURITY_LEVEL=audited needs the file audit records go to');
}

/** A trusted-keys file larger than this is refused. */
const MAX_TRUSTED_KEYS_BYTES = 4 * 1024 * 1024;

type TrustedKeyEntry = { principalId: string; keyId: string; algorithm: string; publicKey: Uint8Array };

/** Reads the fleet's public keys: `[{ principalId, keyId, algorithm, publicKey }]` with `publicKey` base64. */
function readTrustedKeys(path: string | undefined): TrustedKeyEntry[] {
  if (!path) return [];
  const fail = (why: string, cause?: unknown): never => {
    throw new ConfigError(`ECPS_TRUSTED_KEYS: ${path}: ${why}`, { setting: 'ECPS_TRUSTED_KEYS', value: path }, cause);
  };
  let entries: unknown;
  try {
    entries = JSON.parse(readSettingFile(path, 'ECPS_TRUSTED_KEYS', MAX_TRUSTED_KEYS_BYTES));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    fail(`not valid JSON (${(error as Error).message})`, error);
  }
  if (!Array.isArray(entries)) return fail('not a JSON array of keys');
  return entries.map((entry: unknown, i) => {
    const e = entry as Record<string, unknown> | null;
    if (!e || typeof e['principalId'] !== 'string' || typeof e['keyId'] !== 'string' || typeof e['algorithm'] !== 'string' || typeof e['publicKey'] !== 'string') {
      return fail(`entry ${i} needs principalId, keyId, algorithm and publicKey (base64) strings`);
    }
    return { principalId: e['principalId'], keyId: e['keyId'], algorithm: e['algorithm'], publicKey: new Uint8Array(Buffer.from(e['publicKey'], 'base64')) };
  });
}

/** Runs `build`; an error it throws (other than a ConfigError) becomes a ConfigError naming `setting`. */
async function asSetting<T>(setting: string, value: string | undefined, build: () => T | Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${setting}: ${value ? `${value}: ` : ''}${(error as Error).message}`, { setting, ...(value ? { value } : {}) }, error);
  }
}

const PRINCIPAL_KINDS = new Set(['user', 'service', 'device', 'robot']);

/** Reads and checks the RBAC policy file; the Rbac of @ecps/trust checks each permission key. */
function readPolicy(path: string): { roles?: Record<string, Record<string, boolean>>; principals: object[] } {
  const policy = loadConfigFile(path, 'ECPS_PRINCIPALS') as { roles?: unknown; principals?: unknown };
  const fail = (why: string): never => {
    throw new ConfigError(`ECPS_PRINCIPALS: ${path}: ${why}`, { setting: 'ECPS_PRINCIPALS', value: path });
  };
  for (const key of Object.keys(policy)) if (key !== 'roles' && key !== 'principals') fail(`unknown key ${key} (expected roles, principals)`);
  const isBoolMap = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((b) => typeof b === 'boolean');
  if (policy.roles !== undefined && !(typeof policy.roles === 'object' && policy.roles !== null && Object.values(policy.roles).every(isBoolMap))) {
    fail('roles must map each role to { "<action>:<resource>": true|false }');
  }
  if (!Array.isArray(policy.principals)) return fail('principals must be a list');
  policy.principals.forEach((p: unknown, i) => {
    const e = p as Record<string, unknown> | null;
    const ok =
      e !== null &&
      typeof e === 'object' &&
      typeof e['id'] === 'string' &&
      PRINCIPAL_KINDS.has(e['kind'] as string) &&
      Array.isArray(e['roles']) &&
      e['roles'].every((r) => typeof r === 'string') &&
      (e['permissions'] === undefined || isBoolMap(e['permissions'])) &&
      (e['expiresAt'] === undefined || typeof e['expiresAt'] === 'number');
    if (!ok) fail(`principal ${i} needs id, kind (user, service, device, robot) and roles (a list); permissions map to true|false; expiresAt is epoch ms`);
  });
  return policy as { roles?: Record<string, Record<string, boolean>>; principals: object[] };
}

/** Loads the fleet sealing key: the keystore of @ecps/trust, the key `sealingKeyId` in it. */
async function sealingKeys(s: NodeSettings, trust: BackendModule): Promise<object> {
  const { sealingKeystore: path, sealingPassphrase: passphrase, sealingKeyId: keyId } = s.security;
  const loadKeystore = trust.get<(path: string, passphrase: string) => Promise<KeyProvider>>('loadKeystore');
  const provider = await asSetting('ECPS_SEALING_KEYSTORE', path, () => loadKeystore(path!, passphrase!));
  const key = await asSetting('ECPS_SEALING_KEY_ID', keyId, async () => {
    if (!(await provider.hasKey(keyId))) throw new Error(`no key ${keyId} in ${path}`);
    const info = await provider.getKey(keyId);
    if (info.algorithm !== 'x25519' && info.algorithm !== 'ecdsa-p256') throw new Error(`key ${keyId} is ${info.algorithm}; sealing needs x25519 or ecdsa-p256`);
    return info;
  });
  return { recipient: { keyId, algorithm: key.algorithm, publicKey: key.publicKey }, provider };
}

export interface TrustFromSettings {
  readonly trust: NodeTrust;
  /** Whether payloads are sealed under the fleet key. */
  readonly sealed: boolean;
  /** Releases what the trust layer holds open (the audit log). */
  close(): void;
}

/**
 * Builds the trust layer the settings name (`undefined` at `none`): signing keys from `hardware` when given, else the
 * keystore; the sealing key, RBAC policy and audit log as the level needs them (see {@link checkTrustSettings}).
 * Throws {@link ConfigError} naming the setting whose file is unreadable or malformed (a wrong passphrase included),
 * `BackendMissingError` when @ecps/trust is not installed.
 */
export async function trustFromSettings(
  s: NodeSettings,
  context: { hardware?: { provider: KeyProvider; keyId: string } | undefined; importBackend?: ImportBackend | undefined; clock?: Clock | undefined; logger?: Logger | undefined },
): Promise<TrustFromSettings | undefined> {
  const level = LEVEL_VALUE[s.security.level];
  if (level === 0) return undefined;
  const module = await loadBackend('ECPS_SECURITY_LEVEL', s.security.level, BACKEND_PACKAGES.trust.software, context.importBackend);
  const KeyDirectory = module.get<(...args: never[]) => unknown>('KeyDirectory') as unknown as new (o: object) => object;
  const Rbac = module.get<(...args: never[]) => unknown>('Rbac') as unknown as new (o: object) => object;
  const softwareTrust = module.get<(o: object) => NodeTrust>('softwareTrust');

  const keys = await asSetting('ECPS_TRUSTED_KEYS', s.security.trustedKeys, () => new KeyDirectory({ keys: readTrustedKeys(s.security.trustedKeys) }));
  const sealing = s.security.sealingKeystore ? await sealingKeys(s, module) : undefined;
  const principals = level >= LEVEL_VALUE.authorized ? await asSetting('ECPS_PRINCIPALS', s.security.principals, () => new Rbac({ ...readPolicy(s.security.principals!), ...(context.clock ? { clock: context.clock } : {}) })) : undefined;
  let audit: { close(): void } | undefined;
  if (level >= LEVEL_VALUE.audited) {
    const FileAuditSink = module.get<(...args: never[]) => unknown>('FileAuditSink') as unknown as new (path: string) => { close(): void };
    audit = await asSetting('ECPS_AUDIT_LOG', s.security.auditLog, () => new FileAuditSink(s.security.auditLog!));
  }
  const trust = softwareTrust({
    level: s.security.level,
    keys,
    confidentiality: sealing !== undefined, // sealing is on exactly when the fleet key is configured
    ...(sealing ? { sealing } : {}),
    ...(principals ? { principals } : {}),
    ...(audit ? { audit } : {}),
    ...(s.security.session ? { session: true } : {}),
    ...(level >= LEVEL_VALUE.authenticated
      ? context.hardware
        ? { provider: context.hardware.provider, keyId: context.hardware.keyId }
        : { keyFile: s.security.keystore, passphrase: s.security.keystorePassphrase }
      : {}),
    ...(context.clock ? { clock: context.clock } : {}),
    ...(context.logger ? { logger: context.logger } : {}),
  });
  return { trust, sealed: sealing !== undefined, close: () => audit?.close() };
}
