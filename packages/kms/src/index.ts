// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/kms: what the cloud KMS key providers share.

export { KmsError, KmsThrottledError, KmsPermissionError, KmsKeyDisabledError, KmsUnavailableError, networkFailure } from './errors';
export { EndpointPool } from './endpoint-pool';
export { KmsKeyProvider } from './kms-key-provider';
export { DataKeyCache, dataKeyId } from './data-key-cache';
export { EnvelopeActionLog, envelopeEncryption } from './envelope-log';
export { SEALED_ALG_KMS, sealWithDataKey, openWithDataKey } from './sealed';
export { ecdsaDerToP1363 } from './ecdsa';

export type { KmsBackend, KmsCall, KmsKeyState, KmsOperation, GeneratedDataKey } from './backend';
export type { EndpointPoolOptions, RetryOptions } from './endpoint-pool';
export type { KmsKeyProviderOptions } from './kms-key-provider';
export type { DataKey, DataKeyCacheOptions, DataKeySource } from './data-key-cache';
export type { EnvelopeActionLogOptions } from './envelope-log';
export type { KmsSealOptions, KmsOpenOptions } from './sealed';
