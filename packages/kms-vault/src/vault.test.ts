// SPDX-License-Identifier: Apache-2.0
// The KMS contract against the Vault test server (Transit over HTTP with X-Vault-Token) and, when
// ECPS_KMS_VAULT_ADDR is set, against that Vault (token from VAULT_TOKEN / AppRole / ~/.vault-token).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Vault from 'hashi-vault-js';
import { describeKmsContract } from '@ecps/kms/contract';
import { startVaultServer } from '@ecps/testkit/kms';
import type { VaultServer } from '@ecps/testkit/kms';
import { vaultKeyProvider } from './index';

const fast = { attemptTimeoutMs: 1500, maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20 };
let server: VaultServer;
beforeAll(async () => {
  server = await startVaultServer();
});
afterAll(() => server.close());

describeKmsContract({
  name: 'Vault test server',
  provider: async ({ logger }) => vaultKeyProvider({ ...fast, logger, addresses: [server.url], token: server.token }),
  secrets: () => [server.token],
  control: () => server,
});

describe('Vault credentials', () => {
  it('logs in with AppRole through hashi-vault-js and uses the token it gets', async () => {
    const kms = vaultKeyProvider({ ...fast, addresses: [server.url], appRole: server.appRole });
    await kms.generateKey('approle-key', 'aes-256-gcm');
    expect(await kms.hasKey('approle-key')).toBe(true);
    await kms.close();
  });

  it('a wrong AppRole secret and an unknown token are PERMISSION_DENIED', async () => {
    const badLogin = vaultKeyProvider({ ...fast, addresses: [server.url], appRole: { ...server.appRole, secretId: 'wrong' } });
    await expect(badLogin.hasKey('x')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    const badToken = vaultKeyProvider({ ...fast, addresses: [server.url], token: 'hvs.not-a-token' });
    await expect(badToken.hasKey('x')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await Promise.all([badLogin.close(), badToken.close()]);
  });
});

describe('Vault test server: KV v2', () => {
  it('stores versions with check-and-set, as hashi-vault-js expects', async () => {
    const client = new Vault({ baseUrl: `${server.url}/v1`, timeout: 5000 });
    await client.createKVSecret(server.token, 'ecps/keystore', { passphrase: 'p1' }); // cas 0: create only
    expect(await client.readKVSecret(server.token, 'ecps/keystore')).toMatchObject({ data: { passphrase: 'p1' }, metadata: { version: 1 } });
    await expect(client.createKVSecret(server.token, 'ecps/keystore', { passphrase: 'p2' })).rejects.toMatchObject({ response: { status: 400 } });
    await expect(client.readKVSecret('hvs.not-a-token', 'ecps/keystore')).rejects.toMatchObject({ response: { status: 403 } });
  });
});

const realAddress = process.env['ECPS_KMS_VAULT_ADDR'];
if (realAddress) {
  describeKmsContract({ name: `Vault at ${realAddress}`, provider: async ({ logger }) => vaultKeyProvider({ logger, addresses: [realAddress] }),
    secrets: () => [process.env['VAULT_TOKEN'], process.env['VAULT_SECRET_ID']].filter((s): s is string => !!s),
  });
} else {
  it.skip('real Vault: set ECPS_KMS_VAULT_ADDR (and VAULT_TOKEN or AppRole credentials) to run the contract against it', () => undefined);
}
