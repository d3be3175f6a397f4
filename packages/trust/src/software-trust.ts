// SPDX-License-Identifier: Apache-2.0
// The trust configuration a runtime node takes: which level, which keys, which principals; it wraps the node's
// transport once the node id is known.
import type { KeyProvider, Transport } from '@ecps/core';
import type { AuditSink } from './audit';
import { TrustError } from './errors';
import { IdentitySigner } from './identity';
import type { KeyDirectory } from './key-directory';
import { openOrCreateKeystore, type KeystoreKdfParams } from './keystore';
import { parseTrustLevel, type TrustLevelName, type TrustLevelValue } from './levels';
import type { SealingKeys } from './protect';
import type { Rbac } from './rbac';
import { secureTransport, type SecureTransport, type SecureTransportOptions } from './secure-transport';

/** What `createNode({ trust })` accepts. */
export interface TrustProvider {
  readonly level: TrustLevelValue;
  /** Wraps the node's transport. */
  wrap(transport: Transport, nodeId: string): Promise<SecureTransport>;
}

export interface SoftwareTrustOptions
  extends Pick<SecureTransportOptions, 'confidentiality' | 'authorizer' | 'admit' | 'permissionFor' | 'audit' | 'onReject' | 'clock' | 'logger' | 'replay' | 'session'> {
  level: TrustLevelValue | TrustLevelName;
  /** Trusted public keys (shared trust anchors of the fleet). This node's own key is added to it. */
  keys: KeyDirectory;
  /** Encrypted keystore holding the node's signing key (`<nodeId>-signing`, Ed25519), created when absent. */
  keyFile?: string;
  /** Keystore passphrase; default the `ECPS_KEYSTORE_PASSPHRASE` environment variable. */
  passphrase?: string;
  kdf?: KeystoreKdfParams;
  /** Instead of a key file: any KeyProvider (e.g. an HSM) holding `keyId`. */
  provider?: KeyProvider;
  keyId?: string;
  sealing?: SealingKeys;
  principals?: Rbac;
  audit?: AuditSink;
}

/**
 * Trust backed by software keys (a keystore file) or any KeyProvider.
 * `wrap` throws TrustError `CONFIG_INVALID` when neither `keyFile` nor `provider` is given from AUTHENTICATED up,
 * or the keystore passphrase is missing; keystore errors (`DECRYPTION_FAILED` for a wrong passphrase) pass through.
 */
export function softwareTrust(options: SoftwareTrustOptions): TrustProvider {
  const level = parseTrustLevel(options.level);
  return {
    level,
    async wrap(transport, nodeId) {
      const keyId = options.keyId ?? `${nodeId}-signing`;
      let provider = options.provider;
      if (!provider && options.keyFile) {
        const passphrase = options.passphrase ?? process.env['ECPS_KEYSTORE_PASSPHRASE'];
        if (!passphrase) throw new TrustError('CONFIG_INVALID', 'keyFile needs a passphrase (option or ECPS_KEYSTORE_PASSPHRASE)');
        provider = await openOrCreateKeystore(options.keyFile, passphrase, async (p) => void (await p.generateKey(keyId, 'ed25519')), options.kdf);
      }
      if (!provider && level >= 2) throw new TrustError('CONFIG_INVALID', 'AUTHENTICATED and above need a keyFile or a provider');
      const identity = provider ? { id: nodeId, keyId, provider } : undefined;
      if (identity) options.keys.add(await new IdentitySigner(identity).trustedKey());
      const { keyFile: _f, passphrase: _p, kdf: _k, provider: _pr, keyId: _ki, ...rest } = options;
      return secureTransport(transport, { ...rest, level, ...(identity ? { identity } : {}) });
    },
  };
}
