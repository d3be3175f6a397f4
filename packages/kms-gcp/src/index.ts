// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/kms-gcp.

export { gcpKmsKeyProvider } from './gcp-kms-key-provider';
export { GcpKmsBackend } from './gcp-kms-backend';

export type { GcpKmsOptions } from './gcp-kms-key-provider';
export type { GcpClientOptions } from './gcp-kms-backend';
