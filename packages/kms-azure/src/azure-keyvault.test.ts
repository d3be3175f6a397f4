// SPDX-License-Identifier: Apache-2.0
// The KMS contract against the Key Vault test server (HTTPS with a self-signed CA, the bearer-token challenge) and,
// when ECPS_KMS_AZURE_VAULT_URL is set, against that Managed HSM (DefaultAzureCredential).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TokenCredential } from '@azure/core-auth';
import { describeKmsContract } from '@ecps/kms/contract';
import { generateTestCertificates } from '@ecps/testkit';
import { startAzureKeyVaultServer } from '@ecps/testkit/kms';
import type { AzureKeyVaultServer } from '@ecps/testkit/kms';
import { azureKeyVaultKeyProvider } from './index';
import type { AzureKeyVaultOptions } from './index';

const fast = { attemptTimeoutMs: 1500, maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20 };
const pki = generateTestCertificates();
let server: AzureKeyVaultServer;
const scopes: string[] = [];
beforeAll(async () => {
  server = await startAzureKeyVaultServer({ tls: pki.server });
});
afterAll(() => server.close());

/** What an Entra ID credential does: hands the SDK an access token for the scope the vault's challenge named. */
function credentialFor(token: string): TokenCredential {
  return {
    getToken: async (scope) => {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      return { token, expiresOnTimestamp: Date.now() + 3600_000 };
    },
  };
}

function options(token = server.token): AzureKeyVaultOptions {
  return {
    ...fast,
    vaultUrls: [server.url],
    credential: credentialFor(token),
    // the challenge names vault.azure.net, which 127.0.0.1 is not a subdomain of
    clientOptions: { tlsOptions: { ca: pki.ca }, disableChallengeResourceVerification: true },
  };
}

describeKmsContract({
  name: 'Azure Key Vault test server (Managed HSM keys)',
  provider: async ({ logger }) => azureKeyVaultKeyProvider({ ...options(), logger }),
  secrets: () => [server.token],
  control: () => server,
});

describe('Azure credentials', () => {
  it('the SDK answers the bearer challenge with a token for the scope the vault named', () => {
    expect(scopes).toContain('https://vault.azure.net/.default');
  });

  it('a token the vault does not accept is UNAUTHENTICATED', async () => {
    const kms = azureKeyVaultKeyProvider(options('eyJ.wrong'));
    await expect(kms.hasKey('anything')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await kms.close();
  });
});

const realVault = process.env['ECPS_KMS_AZURE_VAULT_URL'];
if (realVault) {
  describeKmsContract({ name: `Azure Managed HSM ${realVault}`, provider: async ({ logger }) => azureKeyVaultKeyProvider({ logger, vaultUrls: [realVault] }),
    secrets: () => [process.env['AZURE_CLIENT_SECRET']].filter((s): s is string => !!s),
  });
} else {
  it.skip('real Azure Key Vault: set ECPS_KMS_AZURE_VAULT_URL (a Managed HSM URL; DefaultAzureCredential) to run the contract against it', () => undefined);
}
