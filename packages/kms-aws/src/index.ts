// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/kms-aws.

export { awsKmsKeyProvider } from './aws-kms-key-provider';
export { AwsKmsBackend } from './aws-kms-backend';

export type { AwsKmsOptions } from './aws-kms-key-provider';
export type { AwsKmsEndpoint } from './aws-kms-backend';
