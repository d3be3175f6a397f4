// SPDX-License-Identifier: Apache-2.0
// The Azure Key Vault KeyProvider: one backend per vault URL, failover in that order.
import { DefaultAzureCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import { KmsError, KmsKeyProvider } from '@ecps/kms';
import type { KmsKeyProviderOptions } from '@ecps/kms';
import { AzureKeyVaultBackend } from './azure-keyvault-backend';
import type { AzureClientOptions } from './azure-keyvault-backend';

export interface AzureKeyVaultOptions extends KmsKeyProviderOptions {
  /**
   * Vault URLs holding the same keys (a Managed HSM and its replica region, for instance), in order of preference.
   * Default: `ECPS_AZURE_KEYVAULT_URL`. AES keys (`oct-HSM`) need a Managed HSM (`https://<name>.managedhsm.azure.net`).
   */
  vaultUrls?: readonly string[];
  /** Default: `DefaultAzureCredential` (environment, workload identity, managed identity, Azure CLI, ...). */
  credential?: TokenCredential;
  /** SDK client options (`tlsOptions`, `proxyOptions`, `disableChallengeResourceVerification`, ...). */
  clientOptions?: AzureClientOptions;
}

/**
 * A KeyProvider over Azure Key Vault / Managed HSM. The SDK's retries are off: the provider retries idempotent
 * calls itself. @throws KmsError `CONFIG_INVALID` without a vault URL.
 */
export function azureKeyVaultKeyProvider(options: AzureKeyVaultOptions = {}): KmsKeyProvider {
  const fallback = process.env['ECPS_AZURE_KEYVAULT_URL'];
  const urls = options.vaultUrls ?? (fallback ? [fallback] : []);
  if (urls.length === 0) throw new KmsError('CONFIG_INVALID', 'Azure Key Vault needs a vault URL: pass vaultUrls or set ECPS_AZURE_KEYVAULT_URL');
  const credential = options.credential ?? new DefaultAzureCredential();
  return new KmsKeyProvider(
    urls.map((url) => new AzureKeyVaultBackend(url, credential, options.clientOptions)),
    options,
  );
}
