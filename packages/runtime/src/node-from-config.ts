// SPDX-License-Identifier: Apache-2.0
// createNodeFromConfig: a node from settings alone. Resolves every setting, loads the configured backends from the
// installed packages, applies the hardware fallback policy, and reports the effective configuration.
import { EcpsError, getProfile, isEcpsError, type Clock, type KeyProvider, type Logger, type RandomSource, type Transport } from '@ecps/core';
import { BACKEND_PACKAGES, loadBackend, type BackendModule, type ImportBackend } from './backends';
import { configFileFromEnv } from './config-file';
import { loadCoordinationBackend, openCoordination, type NodeCoordination } from './coordination-from-config';
import { createNode, type EcpsNode, type TransportContext } from './create-node';
import type { ObservabilityOption } from './layers/observability';
import { actionLogFromSettings } from './log-from-config';
import { ConfigError, redactSettings, resolveSettings, type NodeSettings, type NodeSettingsInput, type SettingSource } from './settings';
import { checkTrustSettings, securityLevelValue, trustFromSettings } from './trust-from-config';

export interface NodeFromConfigOptions {
  /** Explicit settings: the highest precedence. */
  settings?: NodeSettingsInput;
  /** Default `process.env` (also where `ECPS_CONFIG` is read from). */
  env?: Readonly<Record<string, string | undefined>>;
  /** How backend packages are loaded; default `import()` from the runtime. An app passes its own to use its resolution. */
  importBackend?: ImportBackend;
  /** Providers for `observability.enabled` (default: the global OpenTelemetry providers). */
  observability?: Exclude<ObservabilityOption, boolean>;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

/** How the node's keys are held, as it turned out. */
export interface EffectiveTrust {
  /** `ECPS_SECURITY_LEVEL`: `none`, `encryption`, `authenticated`, `authorized` or `audited`. */
  readonly level: NodeSettings['security']['level'];
  /** Whether payloads are sealed under the fleet key (`ECPS_SEALING_KEYSTORE`). */
  readonly sealed: boolean;
  /** Where the signing key lives: `tpm`, `pkcs11`, `keystore` (software), or `none`. */
  readonly keys: 'tpm' | 'pkcs11' | 'keystore' | 'none';
  /** `off`, `in use`, or `unavailable` (preferred hardware was absent: software keys are used). */
  readonly hardware: 'off' | 'in use' | 'unavailable';
}

/** What a node reports about its configuration: secrets redacted, safe to print. */
export interface EffectiveConfig {
  readonly settings: NodeSettings;
  /** Where each setting came from: `default`, `file`, `env` or `option`. */
  readonly sources: Readonly<Record<string, SettingSource>>;
  readonly trust: EffectiveTrust;
  /** Fallbacks taken (also logged as warnings). */
  readonly warnings: readonly string[];
}

export interface ConfiguredNode extends EcpsNode {
  readonly effectiveConfig: EffectiveConfig;
  /** The task table and leader elections on the `ECPS_COORDINATION` backend; absent when it is `none`. */
  readonly coordination?: NodeCoordination;
}

/** A required hardware key store that could not be used (code `UNAVAILABLE`, details `setting`, `backend`). */
export class HardwareUnavailableError extends EcpsError {
  constructor(message: string, details: { setting: string; backend: string }, cause: unknown) {
    super('UNAVAILABLE', message, { details, cause });
    this.name = 'HardwareUnavailableError';
  }
}

/**
 * Resolves the settings of {@link createNodeFromConfig} without creating anything: defaults < `ECPS_CONFIG` file
 * (JSON or YAML) < `ECPS_*` environment < `options.settings`, and the rules that join settings.
 * Throws {@link ConfigError} (`CONFIG_INVALID`, details `setting`, `value`) for a bad, unknown or inconsistent setting.
 */
export function resolveNodeSettings(options: Pick<NodeFromConfigOptions, 'settings' | 'env'> = {}): { settings: NodeSettings; sources: Record<string, SettingSource> } {
  const env = options.env ?? process.env;
  const file = configFileFromEnv(env);
  const { settings, sources } = resolveSettings({ env, ...(file ? { file } : {}), ...(options.settings ? { options: options.settings } : {}) });
  checkCombinations(settings);
  return { settings, sources: { ...sources } };
}

function checkCombinations(s: NodeSettings): void {
  const allowed: readonly string[] = getProfile(s.profile).supportedTransports;
  if (s.transport !== 'memory' && !allowed.includes(s.transport)) {
    throw new ConfigError(`ECPS_TRANSPORT: profile ${s.profile} does not allow ${s.transport} (allowed: ${allowed.join(', ')}; set ECPS_PROFILE)`, {
      setting: 'ECPS_TRANSPORT',
      value: s.transport,
    });
  }
  if (s.mqtt.password !== undefined && s.mqtt.username === undefined) {
    throw new ConfigError('ECPS_MQTT_PASSWORD: needs ECPS_MQTT_USERNAME (brokers refuse a password without a user name)', { setting: 'ECPS_MQTT_PASSWORD', value: '<redacted>' });
  }
  if (s.log.encryption === 'kms' && (s.kms.provider === 'none' || !s.kms.keyId)) {
    throw new ConfigError('ECPS_LOG_ENCRYPTION: kms needs ECPS_KMS_PROVIDER and ECPS_KMS_KEY_ID', { setting: 'ECPS_LOG_ENCRYPTION', value: 'kms' });
  }
  if (s.log.version === '2.0' && (s.log.compression !== 'none' || s.log.encryption !== 'none')) {
    throw new ConfigError('ECPS_LOG_VERSION: 2.0 logs have no compression or encryption (use 2.1)', { setting: 'ECPS_LOG_VERSION', value: '2.0' });
  }
  if (s.hardware.mode !== 'off' && s.hardware.backend === 'pkcs11') {
    for (const [key, env] of [['pkcs11Module', 'ECPS_PKCS11_MODULE'], ['pkcs11Token', 'ECPS_PKCS11_TOKEN'], ['pkcs11Pin', 'ECPS_PKCS11_PIN']] as const) {
      if (!s.hardware[key]) throw new ConfigError(`${env}: required with ECPS_HARDWARE_BACKEND=pkcs11`, { setting: env });
    }
  }
  if (s.etcd.password !== undefined && s.etcd.username === undefined) {
    throw new ConfigError('ECPS_ETCD_PASSWORD: needs ECPS_ETCD_USERNAME', { setting: 'ECPS_ETCD_PASSWORD', value: '<redacted>' });
  }
  const needs: Record<'raft' | 'etcd', ReadonlyArray<readonly [unknown, string]>> = {
    raft: [[s.raft.clusterId, 'ECPS_RAFT_CLUSTER_ID'], [s.raft.members, 'ECPS_RAFT_MEMBERS']],
    etcd: [[s.etcd.endpoints, 'ECPS_ETCD_ENDPOINTS']],
  };
  for (const [value, env] of s.coordination.backend === 'none' ? [] : needs[s.coordination.backend]) {
    if (value === undefined) throw new ConfigError(`${env}: required with ECPS_COORDINATION=${s.coordination.backend}`, { setting: env });
  }
  checkTrustSettings(s);
}

/** Runs the release functions in reverse order, each one even when an earlier one failed; rethrows the first error. */
async function runCleanup(cleanup: Array<() => Promise<void>>): Promise<void> {
  let first: unknown;
  for (const fn of cleanup.splice(0).reverse()) {
    await fn().catch((error: unknown) => void (first ??= error));
  }
  if (first !== undefined) throw first;
}

/** Opens the hardware key store and makes sure it holds the node's signing key. */
async function openHardware(s: NodeSettings, keyId: string, importBackend: ImportBackend | undefined): Promise<KeyProvider & { close?: () => Promise<void> }> {
  const backend = s.hardware.backend;
  const module = await loadBackend('ECPS_HARDWARE_BACKEND', backend, BACKEND_PACKAGES.hardware[backend], importBackend);
  let provider: KeyProvider & { close?: () => Promise<void> };
  if (backend === 'tpm') {
    // `tcp://host:port`: a TPM simulator (swtpm, the IBM simulator) over its command port; anything else a device
    const simulator = /^tcp:\/\/([^:/]+):(\d{1,5})$/.exec(s.hardware.tpmDevice);
    const transport = simulator
      ? module.get<(o: object) => unknown>('tcpTransport')({ host: simulator[1], port: Number(simulator[2]) })
      : module.get<(path: string) => unknown>('deviceTransport')(s.hardware.tpmDevice);
    const TpmKeyProvider = module.get<(...args: never[]) => unknown>('TpmKeyProvider') as unknown as { open(o: object): Promise<KeyProvider> };
    provider = await TpmKeyProvider.open({ transport, ...(s.hardware.tpmKeyFile ? { keyFile: s.hardware.tpmKeyFile } : {}) });
  } else {
    const Pkcs11KeyProvider = module.get<(...args: never[]) => unknown>('Pkcs11KeyProvider') as unknown as { open(o: object): Promise<KeyProvider> };
    provider = await Pkcs11KeyProvider.open({ library: s.hardware.pkcs11Module, tokenLabel: s.hardware.pkcs11Token, pin: s.hardware.pkcs11Pin });
  }
  try {
    if (!(await provider.hasKey(keyId))) await provider.generateKey(keyId, 'ecdsa-p256');
  } catch (error) {
    await provider.close?.().catch(() => undefined);
    throw error;
  }
  return provider;
}

function transportFactory(s: NodeSettings, module: BackendModule): (context: TransportContext) => Transport {
  return ({ nodeId, topicPrefix }) => {
    const prefix = topicPrefix ? { topicPrefix } : {};
    const timeout = s.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: s.connectTimeoutMs };
    switch (s.transport) {
      case 'mqtt':
        return module.get<(o: object) => Transport>('mqttTransport')({
          url: s.mqtt.broker,
          nodeId,
          protocolVersion: s.mqtt.protocolVersion,
          ...(s.mqtt.username ? { username: s.mqtt.username } : {}),
          ...(s.mqtt.password ? { password: s.mqtt.password } : {}),
          ...timeout,
          ...prefix,
        });
      case 'grpc':
        return module.get<(o: object) => Transport>('grpcTransport')({ target: s.grpc.target, nodeId, ...timeout, ...prefix });
      case 'dds':
        return module.get<(o: object) => Transport>('ddsTransport')({ nodeId, domainId: s.dds.domainId, profile: s.profile, ...prefix });
      case 'memory':
        return module.get<(o: object) => Transport>('memoryTransport')({ nodeId });
    }
  };
}

/**
 * Creates and connects a node from configuration alone (see {@link resolveNodeSettings} for the precedence):
 * the transport, trust and KMS packages named by the settings are imported when configured, so only those need to
 * be installed. `ECPS_HARDWARE_SECURITY`: `required` fails closed when the TPM/HSM cannot be used, `preferred`
 * falls back to the software keystore with a warning, `off` never touches hardware. The result's `effectiveConfig`
 * reports what is in force, secrets redacted.
 * Throws {@link ConfigError} for bad settings (a trust level's sealing key, RBAC policy or audit log missing or
 * unusable, a KMS key that does not exist included), `BackendMissingError` (`NOT_FOUND`, naming the package to
 * install) for a configured backend that is not installed, {@link HardwareUnavailableError} when required hardware
 * fails, whatever the KMS answers when asked for the log key, and whatever the transport's `connect()` throws
 * (`UNAVAILABLE` once `ECPS_CONNECT_TIMEOUT_MS` has passed without a broker). Nothing it opened stays open when it
 * throws; `close()` of the node also releases the audit log, the encrypted log's data keys and the KMS client.
 */
export async function createNodeFromConfig(options: NodeFromConfigOptions = {}): Promise<ConfiguredNode> {
  const { settings, sources } = resolveNodeSettings(options);
  const logger = options.logger;
  const importBackend = options.importBackend;
  const warnings: string[] = [];
  const keyId = `${settings.nodeId}-signing`;
  const cleanup: Array<() => Promise<void>> = [];

  try {
    // first, so that a transport package that is not installed is reported before any slow key work
    const transportModule = await loadBackend('ECPS_TRANSPORT', settings.transport, BACKEND_PACKAGES.transport[settings.transport], importBackend);
    const coordinationModule = await loadCoordinationBackend(settings, importBackend);
    let hardware: KeyProvider | undefined;
    let hardwareState: EffectiveTrust['hardware'] = 'off';
    if (settings.hardware.mode !== 'off') {
      try {
        const provider = await openHardware(settings, keyId, importBackend);
        if (provider.close) cleanup.push(() => provider.close!());
        hardware = provider;
        hardwareState = 'in use';
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        if (settings.hardware.mode === 'required') {
          if (isEcpsError(error) && error.name === 'BackendMissingError') throw error;
          throw new HardwareUnavailableError(`ECPS_HARDWARE_SECURITY=required: the ${settings.hardware.backend} key store cannot be used: ${why}`, {
            setting: 'ECPS_HARDWARE_SECURITY',
            backend: settings.hardware.backend,
          }, error);
        }
        hardwareState = 'unavailable';
        const warning = `hardware key store ${settings.hardware.backend} unavailable (${why}); using software keys`;
        warnings.push(warning);
        logger?.warn(warning, { setting: 'ECPS_HARDWARE_SECURITY', backend: settings.hardware.backend });
      }
    }

    const trust = await trustFromSettings(settings, { hardware: hardware && { provider: hardware, keyId }, importBackend, clock: options.clock, logger });
    if (trust) cleanup.push(async () => trust.close());
    const log = await actionLogFromSettings(settings, { importBackend, clock: options.clock, logger });
    cleanup.push(() => log.close());

    const node = await createNode({
      id: settings.nodeId,
      profile: settings.profile,
      topicPrefix: settings.topicPrefix,
      transport: transportFactory(settings, transportModule),
      ...(trust ? { trust: trust.trust } : {}),
      ...(settings.observability.enabled ? { observability: options.observability ?? true } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...(logger ? { logger } : {}),
      eap: { log: log.log },
      ...(settings.mep.store ? { mep: { store: true } } : {}),
    });
    let coordination: Awaited<ReturnType<typeof openCoordination>> | undefined;
    if (coordinationModule) {
      try {
        coordination = await openCoordination(settings, coordinationModule, node.transport, { clock: options.clock, random: options.random, logger });
      } catch (error) {
        await node.close().catch(() => undefined);
        throw error;
      }
    }
    // the coordination store goes first (it may use the node's transport); the log and keys outlive their last use,
    // released once the node (its layers, then its transport) has closed
    const closeNode = node.close.bind(node);
    node.close = async () => {
      await coordination?.close().catch((error: unknown) => logger?.warn('closing the coordination store failed', { error: String(error) }));
      await closeNode();
      await runCleanup(cleanup);
    };
    const effectiveConfig: EffectiveConfig = {
      settings: redactSettings(settings),
      sources,
      trust: {
        level: settings.security.level,
        sealed: trust?.sealed ?? false,
        keys: securityLevelValue(settings.security.level) < securityLevelValue('authenticated') ? 'none' : hardware ? settings.hardware.backend : 'keystore',
        hardware: hardwareState,
      },
      warnings,
    };
    return Object.assign(node, { effectiveConfig }, coordination ? { coordination: coordination.coordination } : {});
  } catch (error) {
    await runCleanup(cleanup).catch(() => undefined);
    throw error;
  }
}
