// SPDX-License-Identifier: Apache-2.0
// The KMS contract against the AWS KMS test server (JSON 1.1 + SigV4) and, when ECPS_KMS_AWS_REGION is set, against
// the real service in that region (credentials from the SDK's default chain).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DescribeKeyCommand, KMSClient, ScheduleKeyDeletionCommand, DeleteAliasCommand } from '@aws-sdk/client-kms';
import { describeKmsContract } from '@ecps/kms/contract';
import { startAwsKmsServer } from '@ecps/testkit/kms';
import type { AwsKmsServer } from '@ecps/testkit/kms';
import { awsKmsKeyProvider } from './index';

const fast = { attemptTimeoutMs: 1500, maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20 };
let server: AwsKmsServer;
beforeAll(async () => {
  server = await startAwsKmsServer();
});
afterAll(() => server.close());

describeKmsContract({
  name: 'AWS KMS test server',
  provider: async ({ logger }) => awsKmsKeyProvider({ ...fast, logger, regions: [{ region: server.region, endpoint: server.url, credentials: server.credentials }] }),
  secrets: () => [server.credentials.secretAccessKey],
  control: () => server,
});

describe('AWS KMS wire details', () => {
  it('a request signed with the wrong secret is refused by the SigV4 check (UNAUTHENTICATED)', async () => {
    const kms = awsKmsKeyProvider({ ...fast, regions: [{ region: server.region, endpoint: server.url, credentials: { ...server.credentials, secretAccessKey: 'wrong' } }] });
    await expect(kms.hasKey('anything')).rejects.toMatchObject({ code: 'UNAUTHENTICATED', details: { serviceCode: 'InvalidSignatureException' } });
    await kms.close();
  });
});

const realRegion = process.env['ECPS_KMS_AWS_REGION'];
if (realRegion) {
  describeKmsContract({
    name: `real AWS KMS in ${realRegion}`,
    provider: async ({ logger }) => awsKmsKeyProvider({ logger, regions: [realRegion], aliasPrefix: 'ecps-test/' }),
    secrets: () => [process.env['AWS_SECRET_ACCESS_KEY'], process.env['AWS_SESSION_TOKEN']].filter((s): s is string => !!s),
    cleanup: async (_provider, ids) => {
      const client = new KMSClient({ region: realRegion });
      for (const id of ids) {
        const alias = `alias/ecps-test/${id}`;
        const { KeyMetadata } = await client.send(new DescribeKeyCommand({ KeyId: alias }));
        await client.send(new DeleteAliasCommand({ AliasName: alias }));
        await client.send(new ScheduleKeyDeletionCommand({ KeyId: KeyMetadata?.KeyId, PendingWindowInDays: 7 }));
      }
      client.destroy();
    },
  });
} else {
  it.skip('real AWS KMS: set ECPS_KMS_AWS_REGION (and AWS credentials) to run the contract against it', () => undefined);
}
