// SPDX-License-Identifier: Apache-2.0
// Cloud KMS backends on the real-time paths: writing the action log and sealing messages under KMS data keys, each
// backend's test server answering with an injected 20 ms round trip, against the same work under a software key
// provider. Data-key caching should make the KMS invisible per message (ratio close to 1).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { grpc } from 'google-gax';
import type { KeyProvider } from '@ecps/core';
import { DataKeyCache, EnvelopeActionLog, openWithDataKey, sealWithDataKey } from '@ecps/kms';
import type { KmsKeyProvider } from '@ecps/kms';
import { awsKmsKeyProvider } from '@ecps/kms-aws';
import { vaultKeyProvider } from '@ecps/kms-vault';
import { azureKeyVaultKeyProvider } from '@ecps/kms-azure';
import { gcpKmsKeyProvider } from '@ecps/kms-gcp';
import { SoftwareKeyProvider } from '@ecps/trust';
import { generateTestCertificates } from '@ecps/testkit/tls';
import { startAwsKmsServer, startAzureKeyVaultServer, startGcpKmsServer, startVaultServer } from '@ecps/testkit/kms';
import type { KmsTestControl } from '@ecps/testkit/kms';
import { asyncOpsPerSecond, type BenchCase } from '../harness';

const ROUND_TRIP_MS = 20;
const KIB = new Uint8Array(randomBytes(1024));
const RECORD = new Uint8Array(randomBytes(160)); // about one EAP action
const LOG_RECORDS = 5000;
/** Rounds per case: the per-message work is small and this machine's load is not, so more rounds than the default. */
const REPETITIONS = 9;

interface Backend {
  name: string;
  start(): Promise<{ server: KmsTestControl; kms: KmsKeyProvider }>;
}

const pki = generateTestCertificates();
const backends: Backend[] = [
  {
    name: 'AWS KMS',
    async start() {
      const server = await startAwsKmsServer();
      return { server, kms: awsKmsKeyProvider({ regions: [{ region: server.region, endpoint: server.url, credentials: server.credentials }] }) };
    },
  },
  {
    name: 'Vault Transit',
    async start() {
      const server = await startVaultServer();
      return { server, kms: vaultKeyProvider({ addresses: [server.url], token: server.token }) };
    },
  },
  {
    name: 'Azure Key Vault',
    async start() {
      const server = await startAzureKeyVaultServer({ tls: pki.server });
      const credential = { getToken: async () => ({ token: server.token, expiresOnTimestamp: Date.now() + 3600_000 }) };
      return { server, kms: azureKeyVaultKeyProvider({ vaultUrls: [server.url], credential, clientOptions: { tlsOptions: { ca: pki.ca }, disableChallengeResourceVerification: true } }) };
    },
  },
  {
    name: 'Cloud KMS (gRPC)',
    async start() {
      const server = await startGcpKmsServer({ tls: pki.server });
      const bearer = grpc.credentials.createFromMetadataGenerator((_p, callback) => {
        const metadata = new grpc.Metadata();
        metadata.add('authorization', `Bearer ${server.token}`);
        callback(null, metadata);
      });
      const sslCreds = grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(Buffer.from(pki.ca)), bearer);
      return { server, kms: gcpKmsKeyProvider({ keyRing: server.keyRing, endpoints: [{ apiEndpoint: server.host, port: server.port, sslCreds, universeDomain: 'googleapis.com' }] }) };
    },
  },
];

/** One side of a case: data keys wrapped by `provider`'s key `kek`. */
interface Side {
  writerKeys: DataKeyCache;
  readerKeys: DataKeyCache;
}

async function side(provider: KeyProvider, kek: string): Promise<Side> {
  if (!(await provider.hasKey(kek))) await provider.generateKey(kek, 'aes-256-gcm');
  const writerKeys = new DataKeyCache(provider, { kekId: kek });
  const readerKeys = new DataKeyCache(provider, { kekId: kek });
  // the first data key (one KMS round trip) and the reader's unwrap happen once, before measuring
  const first = await sealWithDataKey(writerKeys, { plaintext: KIB, innerType: 'bench', senderId: 'bench' });
  await openWithDataKey(readerKeys, first);
  return { writerKeys, readerKeys };
}

function cases(backend: Backend): BenchCase[] {
  let server: KmsTestControl | undefined;
  let kms: KmsKeyProvider | undefined;
  let dir = '';
  let ours: Side;
  let baseline: Side;

  async function setup(): Promise<void> {
    if (server) return;
    ({ server, kms } = await backend.start());
    server.latencyMs = ROUND_TRIP_MS;
    dir = await mkdtemp(join(tmpdir(), 'ecps-bench-kms-'));
    ours = await side(kms, 'bench-kek');
    baseline = await side(new SoftwareKeyProvider(), 'bench-kek');
  }

  async function teardown(): Promise<void> {
    if (!server) return;
    for (const s of [ours, baseline]) {
      s.writerKeys.close();
      s.readerKeys.close();
    }
    await kms?.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
    server = undefined;
  }

  let run = 0;
  /** Records per second appending LOG_RECORDS records to a fresh envelope-encrypted log. */
  async function writeLog(s: Side): Promise<number> {
    const log = new EnvelopeActionLog({ dir, prefix: `run-${run++}`, dataKeys: s.writerKeys, writer: { fsync: 'never' } });
    const start = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < LOG_RECORDS; i++) pending.push(log.append(RECORD));
    await Promise.all(pending);
    await log.close();
    return (LOG_RECORDS * 1000) / (performance.now() - start);
  }

  const sealOpen = (s: Side) =>
    asyncOpsPerSecond(async () => openWithDataKey(s.readerKeys, await sealWithDataKey(s.writerKeys, { plaintext: KIB, innerType: 'bench', senderId: 'bench' })), 1000);

  return [
    {
      name: `kms: action log under ${backend.name} data keys, ${ROUND_TRIP_MS} ms KMS round trip (vs software key provider)`,
      unit: 'records/s',
      higherIsBetter: true,
      repetitions: REPETITIONS,
      setup,
      teardown,
      ours: () => writeLog(ours),
      baseline: () => writeLog(baseline),
    },
    {
      name: `kms: seal+open 1 KiB under ${backend.name} data keys, ${ROUND_TRIP_MS} ms KMS round trip (vs software key provider)`,
      unit: 'ops/s',
      higherIsBetter: true,
      repetitions: REPETITIONS,
      setup,
      teardown,
      ours: () => sealOpen(ours),
      baseline: () => sealOpen(baseline),
    },
  ];
}

export default backends.flatMap(cases);
