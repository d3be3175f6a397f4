// SPDX-License-Identifier: Apache-2.0
// The AWS KMS KeyProvider: one backend per region, failover in that order.
import { KmsError, KmsKeyProvider } from '@ecps/kms';
import type { KmsKeyProviderOptions } from '@ecps/kms';
import { AwsKmsBackend } from './aws-kms-backend';
import type { AwsKmsEndpoint } from './aws-kms-backend';

export interface AwsKmsOptions extends KmsKeyProviderOptions {
  /**
   * Regions holding the same keys (multi-Region keys, `mrk-...`, replicated to each), in order of preference; a
   * region name or an endpoint. Default: `AWS_REGION` (or `AWS_DEFAULT_REGION`).
   */
  regions?: readonly (string | AwsKmsEndpoint)[];
  /** Our key id `x` is the alias `alias/<aliasPrefix>x` (default `''`). */
  aliasPrefix?: string;
}

/**
 * A KeyProvider over AWS KMS. Credentials come from the SDK's default chain unless an endpoint names its own.
 * @throws KmsError `CONFIG_INVALID` when no region is given or set in the environment.
 */
export function awsKmsKeyProvider(options: AwsKmsOptions = {}): KmsKeyProvider {
  const fallback = process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'];
  const regions = options.regions ?? (fallback ? [fallback] : []);
  if (regions.length === 0) throw new KmsError('CONFIG_INVALID', 'AWS KMS needs a region: pass regions or set AWS_REGION');
  const backends = regions.map((r) => new AwsKmsBackend(typeof r === 'string' ? { region: r } : r, options.aliasPrefix));
  return new KmsKeyProvider(backends, options);
}
