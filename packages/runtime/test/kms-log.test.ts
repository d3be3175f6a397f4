// SPDX-License-Identifier: Apache-2.0
// ECPS_LOG_ENCRYPTION=kms with ECPS_KMS_PROVIDER=aws_kms against the AWS KMS test server (the wire protocol with
// SigV4, driven by @aws-sdk/client-kms through @ecps/kms-aws): the action log is envelope encrypted, unreadable
// without the KMS and read back with it, and the KMS is called once per data key, not per record. The test only
// points the provider at the server (importBackend); `ecps node` runs the same path from AWS_* variables.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEaplog } from '@ecps/eaplog';
import { awsKmsKeyProvider, type AwsKmsOptions } from '@ecps/kms-aws';
import { startAwsKmsServer, type AwsKmsServer } from '@ecps/testkit/kms';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { createNodeFromConfig, type ConfiguredNode } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'ecps-runtime-kms-log-'));
const bus = new MemoryBus();
let server: AwsKmsServer;
const fast = { attemptTimeoutMs: 1500, maxAttempts: 2, initialBackoffMs: 5, maxBackoffMs: 20 };
const toServer = (): AwsKmsOptions => ({ ...fast, regions: [{ region: server.region, endpoint: server.url, credentials: server.credentials }] });

beforeAll(async () => {
  server = await startAwsKmsServer();
  const admin = awsKmsKeyProvider(toServer());
  await admin.generateKey('fleet-logs', 'aes-256-gcm');
  await admin.close();
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The installed packages, with the KMS provider pointed at the test server and memory transports on our bus. */
const importBackend = (aws: (o: AwsKmsOptions) => AwsKmsOptions) => (name: string) => {
  if (name === '@ecps/kms-aws') return Promise.resolve({ awsKmsKeyProvider: (o: AwsKmsOptions) => awsKmsKeyProvider(aws(o)) });
  if (name === '@ecps/transport-memory') return Promise.resolve({ memoryTransport: (o: { nodeId: string }) => memoryTransport({ ...o, bus }) });
  return import(name);
};
const kmsEnv = (logDir: string, keyId = 'fleet-logs') => ({
  ECPS_TRANSPORT: 'memory',
  ECPS_LOG_DIR: logDir,
  ECPS_LOG_ENCRYPTION: 'kms',
  ECPS_KMS_PROVIDER: 'aws_kms',
  ECPS_KMS_KEY_ID: keyId,
});

describe('ECPS_LOG_ENCRYPTION=kms (AWS KMS)', () => {
  it('envelope encrypts the action log under the KMS key: one data key for many records, unreadable without the KMS, read back with it', async () => {
    const logDir = join(dir, 'logs');
    const robot = await createNodeFromConfig({ env: { ECPS_NODE_ID: 'kms-robot', ...kmsEnv(logDir) }, importBackend: importBackend((o) => ({ ...o, ...toServer() })) });
    const planner = await createNodeFromConfig({ env: { ECPS_NODE_ID: 'kms-planner', ECPS_TRANSPORT: 'memory', ECPS_LOG_ENABLED: 'false' }, importBackend: importBackend((o) => o) });
    robot.eap.onAction('gripper', () => undefined);
    const before = new Map(server.counts);
    const ids: string[] = [];
    for (const forceLimit of [0.1, 0.2, 0.3]) ids.push((await planner.eap.send('gripper', { command: 'CLOSE', forceLimit }, { snapshot: new Uint8Array(32) })).action.id);
    await planner.close();
    await robot.close();

    const calls = (op: string) => (server.counts.get(op) ?? 0) - (before.get(op) ?? 0);
    expect(calls('GenerateDataKey')).toBe(1);
    expect(calls('Encrypt')).toBe(0);
    const files = readdirSync(logDir);
    expect(files).toEqual([expect.stringMatching(/^eap_\d+-1\.eaplog$/)]);
    const path = join(logDir, files[0]!);
    for (const id of ids) expect(readFileSync(path).includes(id)).toBe(false);
    await expect(readEaplog(path)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });

    const reader = awsKmsKeyProvider(toServer());
    const contents = await readEaplog(path, { keyProvider: reader });
    await reader.close();
    const header = contents.header as unknown as Map<string, unknown>;
    expect(header.get('encryption')).toBe('aes-256-gcm');
    expect(header.get('robot_id')).toBe('kms-robot');
    expect(contents.messages).toHaveLength(3);
    for (const id of ids) expect(contents.messages.some((m) => Buffer.from(m.data).includes(id))).toBe(true);
  });

  it('refuses a KMS key that does not exist (ConfigError ECPS_KMS_KEY_ID) and a provider without its settings (ECPS_KMS_PROVIDER) before the node starts', async () => {
    const missing = createNodeFromConfig({ env: { ECPS_NODE_ID: 'kms-x', ...kmsEnv(join(dir, 'x'), 'no-such-key') }, importBackend: importBackend((o) => ({ ...o, ...toServer() })) });
    await expect(missing).rejects.toMatchObject({ name: 'ConfigError', details: { setting: 'ECPS_KMS_KEY_ID', value: 'no-such-key' } });
    const noRegion = createNodeFromConfig({ env: { ECPS_NODE_ID: 'kms-y', ...kmsEnv(join(dir, 'y')) }, importBackend: importBackend((o) => ({ ...o, regions: [] })) });
    await expect(noRegion).rejects.toMatchObject({ name: 'ConfigError', details: { setting: 'ECPS_KMS_PROVIDER' }, message: expect.stringMatching(/needs a region/) });
  });
});
