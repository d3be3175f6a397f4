// SPDX-License-Identifier: Apache-2.0
// KMS test servers: each speaks its service's real wire protocol on loopback, with real key state and crypto.

export { SoftKms, SoftKmsError } from './soft-kms';
export { startAwsKmsServer } from './aws-kms-server';
export { startVaultServer } from './vault-server';
export { startGcpKmsServer } from './gcp-kms-server';
export { startAzureKeyVaultServer } from './azure-keyvault-server';

export type { KmsTestControl, KmsPermission } from './control';
export type { SoftKey, SoftKeyType, SoftKeyVersion } from './soft-kms';
export type { AwsKmsServer, AwsKmsServerOptions } from './aws-kms-server';
export type { VaultServer, VaultServerOptions } from './vault-server';
export type { GcpKmsServer, GcpKmsServerOptions } from './gcp-kms-server';
export type { AzureKeyVaultServer, AzureKeyVaultServerOptions } from './azure-keyvault-server';
