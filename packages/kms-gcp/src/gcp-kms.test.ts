// SPDX-License-Identifier: Apache-2.0
// The KMS contract against the Cloud KMS test server (gRPC over TLS with a bearer token, the client's default
// transport) and, when ECPS_KMS_GCP_KEY_RING is set, against that key ring (Application Default Credentials).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { grpc } from 'google-gax';
import { describeKmsContract } from '@ecps/kms/contract';
import { generateTestCertificates } from '@ecps/testkit';
import { startGcpKmsServer } from '@ecps/testkit/kms';
import type { GcpKmsServer } from '@ecps/testkit/kms';
import { gcpKmsKeyProvider } from './index';
import type { GcpClientOptions } from './index';

const fast = { attemptTimeoutMs: 1500, maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20 };
const pki = generateTestCertificates();
let server: GcpKmsServer;
beforeAll(async () => {
  server = await startGcpKmsServer({ tls: pki.server });
});
afterAll(() => server.close());

/** TLS to the test server's CA and its bearer token on every call, as an access token from ADC would be. */
function clientFor(target: GcpKmsServer, token = target.token): GcpClientOptions {
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.add('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
  return {
    apiEndpoint: target.host,
    port: target.port,
    sslCreds: grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(Buffer.from(pki.ca)), bearer),
    // named, so that the client does not look for Application Default Credentials (the metadata server) to learn it
    universeDomain: 'googleapis.com',
  };
}

describeKmsContract({
  name: 'Cloud KMS test server (gRPC)',
  provider: async ({ logger }) => gcpKmsKeyProvider({ ...fast, logger, keyRing: server.keyRing, endpoints: [clientFor(server)] }),
  secrets: () => [server.token],
  control: () => server,
});

describe('Cloud KMS credentials', () => {
  it('a call without a valid token is UNAUTHENTICATED', async () => {
    const kms = gcpKmsKeyProvider({ ...fast, keyRing: server.keyRing, endpoints: [clientFor(server, 'ya29.wrong')] });
    await expect(kms.hasKey('anything')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await kms.close();
  });
});

const realKeyRing = process.env['ECPS_KMS_GCP_KEY_RING'];
if (realKeyRing) {
  // Cloud KMS never deletes keys: the suite's keys stay (disable or destroy their versions by hand)
  describeKmsContract({ name: `Cloud KMS key ring ${realKeyRing}`, provider: async ({ logger }) => gcpKmsKeyProvider({ logger, keyRing: realKeyRing }) });
} else {
  it.skip('real Cloud KMS: set ECPS_KMS_GCP_KEY_RING (projects/<p>/locations/<l>/keyRings/<r>, ADC credentials) to run the contract against it', () => undefined);
}
