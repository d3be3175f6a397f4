// SPDX-License-Identifier: Apache-2.0
// `ecps node` as a real process, for what configuration alone must get right beyond the happy path: a broker that
// cannot be reached (retried with backoff, then a clean failure: typed message, exit 1, no hang, process gone), a
// broker that comes up while the node retries, the action log encrypted under an AWS KMS key (the test server,
// through the official SDK) from AWS_* variables and read back, and a trust level missing its prerequisite.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readEaplog } from '@ecps/eaplog';
import { awsKmsKeyProvider } from '@ecps/kms-aws';
import { createNode } from '@ecps/runtime';
import { bundleEntry, freePort, startMosquitto, type MosquittoHandle } from '@ecps/testkit';
import { startAwsKmsServer, type AwsKmsServer } from '@ecps/testkit/kms';
import { mqttTransport } from '@ecps/transport-mqtt';
import { ecpsRunner, type EcpsChild, type EcpsRunner } from './fixtures/ecps-child';

let cli: string;
let dir: string;
let mosquitto: MosquittoHandle | undefined;
let kms: AwsKmsServer | undefined;
let runner: EcpsRunner;

beforeAll(async () => {
  cli = await bundleEntry(join(import.meta.dirname, 'fixtures', 'node-cli.ts'), join(import.meta.dirname, '..'), 'ecps-node-cli', { bundleDependencies: { external: ['@mongodb-js/zstd'] } });
  dir = mkdtempSync(join(tmpdir(), 'ecps-node-e2e-'));
  runner = ecpsRunner(cli, dir);
  writeFileSync(join(dir, 'handlers.mjs'), `export default (node) => node.eap.onAction('gripper', (body) => console.log('executed gripper ' + body.command));\n`);
});
afterAll(async () => {
  await runner?.stopAll();
  await mosquitto?.stop();
  await kms?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ecps = (args: string[], env: Record<string, string> = {}): EcpsChild => runner.run(args, env);

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const mqttNode = (id: string, broker: string, extra: Record<string, string> = {}) => ({
  ECPS_NODE_ID: id,
  ECPS_PROFILE: 'cloud-fleet',
  ECPS_TRANSPORT: 'mqtt',
  ECPS_MQTT_BROKER: broker,
  ECPS_EAP_HANDLERS: join(dir, 'handlers.mjs'),
  ...extra,
});

describe('ecps node and its broker', () => {
  it('a broker that never answers: retried until ECPS_CONNECT_TIMEOUT_MS, then exit 1 with the UNAVAILABLE reason, nothing left running', async () => {
    const broker = `mqtt://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const robot = ecps(['node'], mqttNode('arm-unreachable', broker, { ECPS_CONNECT_TIMEOUT_MS: '1500', ECPS_LOG_ENABLED: 'false' }));
    expect(await robot.exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000); // bounded by the timeout, not by the test's
    expect(robot.err.join('\n')).toContain(`ecps node: no MQTT connection to ${broker} within 1500 ms`);
    expect(robot.lines.some((l) => /ready/.test(l))).toBe(false);
    expect(isRunning(robot.pid)).toBe(false);
  });

  it('a broker that comes up while the node retries: the node connects and serves', async () => {
    mosquitto = await startMosquitto();
    await mosquitto.kill9(); // its port is known and now refuses connections
    const robot = ecps(['node'], mqttNode('arm-patient', mosquitto.url, { ECPS_CONNECT_TIMEOUT_MS: '20000', ECPS_LOG_ENABLED: 'false' }));
    await new Promise((r) => setTimeout(r, 800));
    expect(robot.lines.some((l) => /ready/.test(l))).toBe(false);
    await mosquitto.restart();
    await robot.waitFor(/ready/);
    expect(await robot.stop()).toBe(0);
  });
});

it('ECPS_LOG_ENCRYPTION=kms with AWS KMS from AWS_* variables: the node encrypts its .eaplog, readable only through the KMS', async () => {
  kms = await startAwsKmsServer();
  const admin = awsKmsKeyProvider({ regions: [{ region: kms.region, endpoint: kms.url, credentials: kms.credentials }] });
  await admin.generateKey('robot-logs', 'aes-256-gcm');
  mosquitto ??= await startMosquitto();
  const logDir = join(dir, 'kms-logs');
  const robot = ecps(['node'], {
    ...mqttNode('arm-kms', mosquitto.url),
    ECPS_LOG_DIR: logDir,
    ECPS_LOG_ENCRYPTION: 'kms',
    ECPS_KMS_PROVIDER: 'aws_kms',
    ECPS_KMS_KEY_ID: 'robot-logs',
    AWS_REGION: kms.region,
    AWS_ACCESS_KEY_ID: kms.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: kms.credentials.secretAccessKey,
    AWS_ENDPOINT_URL_KMS: kms.url,
  });
  await robot.waitFor(/ready/);
  expect(robot.lines).toContain(`  eap: handlers ${join(dir, 'handlers.mjs')}; action log ${logDir} (version 2.1, compression none, encryption kms)`);
  const planner = await createNode({ id: 'planner-kms', profile: 'cloud-fleet', eap: { log: false }, transport: ({ nodeId }) => mqttTransport({ url: mosquitto!.url, nodeId }) });
  let actionId: string;
  try {
    actionId = (await planner.eap.send('gripper', { command: 'CLOSE' }, { snapshot: new Uint8Array(32).fill(7) })).action.id;
  } finally {
    await planner.close();
  }
  await robot.waitFor(/executed gripper/);
  expect(await robot.stop()).toBe(0);

  const [file, ...more] = readdirSync(logDir);
  expect(more).toEqual([]);
  const path = join(logDir, file!);
  expect(readFileSync(path).includes(actionId)).toBe(false);
  await expect(readEaplog(path)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
  const contents = await readEaplog(path, { keyProvider: admin });
  await admin.close();
  const header = contents.header as unknown as Map<string, unknown>;
  expect(header.get('encryption')).toBe('aes-256-gcm');
  expect(header.get('data_key')).toBeDefined(); // envelope encryption: the KMS-wrapped data key travels with the file
  expect(contents.messages.some((m) => Buffer.from(m.data).includes(actionId))).toBe(true);
  expect(robot.err.join('\n')).not.toContain(kms.credentials.secretAccessKey);
});

it('ECPS_SECURITY_LEVEL=authorized without ECPS_PRINCIPALS: exit 2 naming the setting, before connecting', async () => {
  const robot = ecps(['node'], {
    ...mqttNode('arm-rbac', 'mqtt://127.0.0.1:1'),
    ECPS_SECURITY_LEVEL: 'authorized',
    ECPS_KEYSTORE: join(dir, 'arm-rbac.keystore'),
    ECPS_KEYSTORE_PASSPHRASE: 'correct horse',
  });
  expect(await robot.exited).toBe(2);
  expect(robot.err).toEqual([expect.stringContaining('ecps node: ECPS_PRINCIPALS: ECPS_SECURITY_LEVEL=authorized authorizes every sender'), expect.stringMatching(/^hint: /)]);
});
