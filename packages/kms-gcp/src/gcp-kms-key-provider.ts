// SPDX-License-Identifier: Apache-2.0
// The Cloud KMS KeyProvider: one key ring, one backend per API endpoint, failover in that order.
import { KmsError, KmsKeyProvider } from '@ecps/kms';
import type { KmsKeyProviderOptions } from '@ecps/kms';
import { GcpKmsBackend } from './gcp-kms-backend';
import type { GcpClientOptions } from './gcp-kms-backend';

export interface GcpKmsOptions extends KmsKeyProviderOptions {
  /** `projects/<p>/locations/<l>/keyRings/<r>` holding the keys. Default: `ECPS_GCP_KMS_KEY_RING`. */
  keyRing?: string;
  /**
   * Client options per endpoint, in order of preference (e.g. regional endpoints serving a multi-region location).
   * Default: one endpoint with the client's defaults: `cloudkms.googleapis.com` over gRPC, credentials from
   * Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud, the metadata server).
   */
  endpoints?: readonly GcpClientOptions[];
  /** Protection level of keys this provider creates (default `SOFTWARE`). */
  protectionLevel?: 'SOFTWARE' | 'HSM';
}

/**
 * A KeyProvider over Google Cloud KMS. Each call is one gRPC call with the attempt timeout as its deadline.
 * @throws KmsError `CONFIG_INVALID` without a key ring.
 */
export function gcpKmsKeyProvider(options: GcpKmsOptions = {}): KmsKeyProvider {
  const keyRing = options.keyRing ?? process.env['ECPS_GCP_KMS_KEY_RING'];
  if (!keyRing) throw new KmsError('CONFIG_INVALID', 'Cloud KMS needs a key ring: pass keyRing or set ECPS_GCP_KMS_KEY_RING');
  const endpoints = options.endpoints ?? [{}];
  const timeout = options.attemptTimeoutMs ?? 5000;
  return new KmsKeyProvider(
    endpoints.map((client) => new GcpKmsBackend(keyRing, client, options.protectionLevel, timeout)),
    options,
  );
}
