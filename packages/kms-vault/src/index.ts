// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/kms-vault.

export { vaultKeyProvider } from './vault-key-provider';
export { VaultBackend } from './vault-backend';

export type { VaultKmsOptions } from './vault-key-provider';
export type { VaultEndpoint, VaultTokenSource } from './vault-backend';
