// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/kms-azure.

export { azureKeyVaultKeyProvider } from './azure-keyvault-key-provider';
export { AzureKeyVaultBackend } from './azure-keyvault-backend';

export type { AzureKeyVaultOptions } from './azure-keyvault-key-provider';
export type { AzureClientOptions } from './azure-keyvault-backend';
