// SPDX-License-Identifier: Apache-2.0
// The action log from settings. With `log.encryption=kms` the log uses envelope encryption (@ecps/kms): records are
// sealed locally under a data key the KMS generates and wraps, the wrapped key in each file's header, so the KMS is
// called once per data key (minutes), never per record. @ecps/kms and the provider package are imported only then.
import type { Clock, KeyProvider, Logger } from '@ecps/core';
import type { EaplogWriter } from '@ecps/eaplog';
import type { NodeEapOptions } from './layers/eap';
import { BACKEND_PACKAGES, loadBackend, type ImportBackend } from './backends';
import { ConfigError, type NodeSettings } from './settings';

const KMS_FACTORIES = { aws_kms: 'awsKmsKeyProvider', vault: 'vaultKeyProvider', azure_kv: 'azureKeyVaultKeyProvider', gcp_kms: 'gcpKmsKeyProvider' } as const;

export interface ActionLogFromSettings {
  /** The `eap.log` option of the node. */
  readonly log: NonNullable<NodeEapOptions['log']>;
  /** Flushes and closes what the node does not close itself (the encrypted log, its data keys, the KMS client). */
  close(): Promise<void>;
}

/**
 * The node's action log as the settings say: off, a plain `.eaplog` in `log.dir`, or (encryption `kms`) an envelope
 * encrypted log `eap_<unix_seconds>-<n>.eaplog` whose data keys `kms.keyId` of `kms.provider` wraps (a new file when
 * the data key rotates, every 5 minutes). Before the node starts, the KMS is asked whether the key exists.
 * Throws `BackendMissingError` when the provider package is not installed, {@link ConfigError} (`ECPS_KMS_PROVIDER`)
 * when the provider refuses its own settings (no region, no address) and (`ECPS_KMS_KEY_ID`) when the key does not
 * exist; a KMS that cannot be reached fails with its own error (`UNAVAILABLE`, `UNAUTHENTICATED`, ...).
 */
export async function actionLogFromSettings(
  s: NodeSettings,
  context: { importBackend?: ImportBackend | undefined; clock?: Clock | undefined; logger?: Logger | undefined },
): Promise<ActionLogFromSettings> {
  const writer = { version: s.log.version, compression: s.log.compression };
  if (!s.log.enabled) return { log: false, close: async () => undefined };
  if (s.log.encryption !== 'kms' || s.kms.provider === 'none') return { log: { dir: s.log.dir, writer }, close: async () => undefined };

  const provider = s.kms.provider;
  const kekId = s.kms.keyId!;
  const module = await loadBackend('ECPS_KMS_PROVIDER', provider, BACKEND_PACKAGES.kms[provider], context.importBackend);
  const factory = module.get<(o: object) => KeyProvider & { close(): Promise<void> }>(KMS_FACTORIES[provider]);
  let kms: KeyProvider & { close(): Promise<void> };
  try {
    kms = factory({ ...(context.logger ? { logger: context.logger } : {}) });
  } catch (error) {
    throw new ConfigError(`ECPS_KMS_PROVIDER=${provider}: ${(error as Error).message}`, { setting: 'ECPS_KMS_PROVIDER', value: provider }, error);
  }
  try {
    if (!(await kms.hasKey(kekId))) {
      throw new ConfigError(`ECPS_KMS_KEY_ID: ${provider} has no key ${kekId}`, { setting: 'ECPS_KMS_KEY_ID', value: kekId });
    }
    const { DataKeyCache, EnvelopeActionLog } = await import('@ecps/kms');
    const clockAndLogger = { ...(context.clock ? { clock: context.clock } : {}), ...(context.logger ? { logger: context.logger } : {}) };
    const dataKeys = new DataKeyCache(kms, { kekId, ...clockAndLogger });
    const now = (context.clock ?? { now: () => Date.now() }).now();
    const log = new EnvelopeActionLog({
      dir: s.log.dir,
      prefix: `eap_${Math.floor(now / 1000)}`,
      dataKeys,
      writer: { ...writer, robotId: s.nodeId, ...clockAndLogger },
    });
    return {
      // the EAP layer appends to it as to a writer the caller owns (append, path), and leaves closing to us
      log: log as unknown as EaplogWriter,
      async close() {
        try {
          await log.close();
        } finally {
          dataKeys.close();
          await kms.close();
        }
      },
    };
  } catch (error) {
    await kms.close().catch(() => undefined);
    throw error;
  }
}
