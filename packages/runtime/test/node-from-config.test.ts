// SPDX-License-Identifier: Apache-2.0
// createNodeFromConfig: backends imported by package name (missing ones name the package to install), the hardware
// fallback policy (the PKCS#11 cases run in `ecps node` child processes, where SoftHSM2's configuration reaches the module), the action log from settings, and the
// effective configuration.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEaplog } from '@ecps/eaplog';
import { sleep, waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { KeyDirectory, SoftwareKeyProvider, loadKeystore, softwareTrust } from '@ecps/trust';
import type { Logger } from '@ecps/core';
import { BACKEND_PACKAGES, BackendMissingError, createNode, createNodeFromConfig, loadBackend, type ConfiguredNode } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'ecps-runtime-from-config-'));
const nodes: ConfiguredNode[] = [];
afterAll(async () => {
  for (const n of nodes) await n.close();
  rmSync(dir, { recursive: true, force: true });
});

const warnings: string[] = [];
const logger: Logger = { debug() {}, info() {}, warn: (message: string) => void warnings.push(message), error() {} };

async function start(env: Record<string, string>): Promise<ConfiguredNode> {
  const node = await createNodeFromConfig({ env, logger });
  nodes.push(node);
  return node;
}

const keystore = (id: string) => ({ ECPS_KEYSTORE: join(dir, `${id}.keystore`), ECPS_KEYSTORE_PASSPHRASE: 'correct horse' });

// Which backend packages this workspace holds (what Jest resolves): the others are "not installed".
const workspace = new Set(
  readdirSync(join(import.meta.dirname, '..', '..')).map((name) => {
    try {
      return (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', name, 'package.json'), 'utf8')) as { name: string }).name;
    } catch {
      return '';
    }
  }),
);

/** Every backend, the setting that names it, and the export the runtime calls. */
const BACKENDS: Array<[setting: string, backend: string, packageName: string, exportName: string, env: Record<string, string>]> = [
  ['ECPS_TRANSPORT', 'mqtt', '@ecps/transport-mqtt', 'mqttTransport', {}],
  ['ECPS_TRANSPORT', 'grpc', '@ecps/transport-grpc', 'grpcTransport', {}],
  ['ECPS_TRANSPORT', 'memory', '@ecps/transport-memory', 'memoryTransport', {}],
  ['ECPS_TRANSPORT', 'dds', '@ecps/transport-dds', 'ddsTransport', { ECPS_TRANSPORT: 'dds' }],
  ['ECPS_SECURITY_LEVEL', 'authenticated', '@ecps/trust', 'softwareTrust', {}],
  ['ECPS_HARDWARE_BACKEND', 'pkcs11', '@ecps/trust-pkcs11', 'Pkcs11KeyProvider', {}],
  ['ECPS_HARDWARE_BACKEND', 'tpm', '@ecps/trust-tpm', 'TpmKeyProvider', { ECPS_TRANSPORT: 'memory', ECPS_HARDWARE_SECURITY: 'required', ECPS_SECURITY_LEVEL: 'authenticated' }],
  ['ECPS_COORDINATION', 'raft', '@ecps/raft', 'KvClient', {}],
  ['ECPS_COORDINATION', 'etcd', '@ecps/coordination-etcd', 'EtcdCoordinationStore', {}],
  ['ECPS_KMS_PROVIDER', 'aws_kms', '@ecps/kms-aws', 'awsKmsKeyProvider', { ECPS_TRANSPORT: 'memory', ECPS_LOG_ENCRYPTION: 'kms', ECPS_KMS_PROVIDER: 'aws_kms', ECPS_KMS_KEY_ID: 'log' }],
  ['ECPS_KMS_PROVIDER', 'vault', '@ecps/kms-vault', 'vaultKeyProvider', { ECPS_TRANSPORT: 'memory', ECPS_LOG_ENCRYPTION: 'kms', ECPS_KMS_PROVIDER: 'vault', ECPS_KMS_KEY_ID: 'log' }],
  ['ECPS_KMS_PROVIDER', 'azure_kv', '@ecps/kms-azure', 'azureKeyVaultKeyProvider', { ECPS_TRANSPORT: 'memory', ECPS_LOG_ENCRYPTION: 'kms', ECPS_KMS_PROVIDER: 'azure_kv', ECPS_KMS_KEY_ID: 'log' }],
  ['ECPS_KMS_PROVIDER', 'gcp_kms', '@ecps/kms-gcp', 'gcpKmsKeyProvider', { ECPS_TRANSPORT: 'memory', ECPS_LOG_ENCRYPTION: 'kms', ECPS_KMS_PROVIDER: 'gcp_kms', ECPS_KMS_KEY_ID: 'log' }],
];

describe('backends by package name', () => {
  it('covers every entry of BACKEND_PACKAGES', () => {
    const listed = Object.values(BACKEND_PACKAGES).flatMap((kind) => Object.values(kind));
    expect(BACKENDS.map((b) => b[2]).sort()).toEqual([...new Set(listed)].sort());
  });

  it.each(BACKENDS)('%s=%s: %s (installed here: exports %s; absent: BackendMissingError naming it)', async (setting, backend, packageName, exportName, env) => {
    if (workspace.has(packageName)) {
      const module = await loadBackend(setting, backend, packageName);
      expect(typeof module.get(exportName)).toBe('function');
      return;
    }
    const error = await loadBackend(setting, backend, packageName).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(BackendMissingError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', details: { setting, backend, package: packageName } });
    expect((error as Error).message).toContain(`install it (pnpm add ${packageName})`);
    // and through the whole node, configured from the environment
    await expect(createNodeFromConfig({ env: { ECPS_NODE_ID: 'n', ...env } })).rejects.toMatchObject({
      name: 'BackendMissingError',
      details: { setting, package: packageName },
    });
  });

  it('passes through an error the installed package raises while loading, and names a missing export', async () => {
    const broken = new Error('native binding failed to load');
    await expect(loadBackend('ECPS_TRANSPORT', 'dds', '@ecps/transport-dds', () => Promise.reject(broken))).rejects.toBe(broken);
    const old = await loadBackend('ECPS_TRANSPORT', 'mqtt', '@ecps/transport-mqtt', () => Promise.resolve({ somethingElse: () => 1 }));
    expect(() => old.get('mqttTransport')).toThrow(expect.objectContaining({ name: 'BackendMissingError', code: 'UNSUPPORTED' }));
    // a CommonJS package imported as ESM keeps its exports under `default`
    const cjs = await loadBackend('ECPS_TRANSPORT', 'mqtt', '@ecps/transport-mqtt', () => Promise.resolve({ default: { mqttTransport: () => 1 } }));
    expect(cjs.get<() => number>('mqttTransport')()).toBe(1);
  });
});

describe('a node from settings alone', () => {
  it('exchanges EAP actions over the configured transport and logs them to .eaplog in ECPS_LOG_DIR', async () => {
    const logDir = join(dir, 'logs');
    const robot = await start({ ECPS_NODE_ID: 'robot', ECPS_TRANSPORT: 'memory', ECPS_LOG_DIR: logDir, ECPS_LOG_COMPRESSION: 'deflate', ECPS_MQTT_USERNAME: 'robot', ECPS_MQTT_PASSWORD: 'hunter2' });
    const planner = await start({ ECPS_NODE_ID: 'planner', ECPS_TRANSPORT: 'memory', ECPS_LOG_ENABLED: 'false' });
    const done: string[] = [];
    robot.eap.onAction('gripper', (body) => void done.push(String(body.command)));
    await planner.eap.send('gripper', { command: 'CLOSE', forceLimit: 0.5 }, { snapshot: new Uint8Array(32) });
    await waitFor(() => done.length === 1, 'the robot to execute the action');
    await robot.close();
    const logs = readdirSync(logDir).filter((f) => f.endsWith('.eaplog'));
    expect(logs).toHaveLength(1);
    const contents = await readEaplog(join(logDir, logs[0]!));
    expect(Object.fromEntries(contents.header as unknown as Map<string, unknown>)).toMatchObject({ version: '2.1', compression: 'deflate', robot_id: 'robot' });
    expect(contents.messages.length).toBeGreaterThanOrEqual(1);
    expect(robot.effectiveConfig.settings.mqtt.password).toBe('<redacted>');
    expect(robot.effectiveConfig.sources).toMatchObject({ nodeId: 'env', profile: 'default', 'log.compression': 'env' });
    expect(robot.effectiveConfig.trust).toEqual({ level: 'none', sealed: false, keys: 'none', hardware: 'off' });
  });

  it('writes the header version ECPS_LOG_VERSION names', async () => {
    const logDir = join(dir, 'logs-2.0');
    const robot = await start({ ECPS_NODE_ID: 'robot-20', ECPS_TRANSPORT: 'memory', ECPS_LOG_DIR: logDir, ECPS_LOG_VERSION: '2.0' });
    const planner = await start({ ECPS_NODE_ID: 'planner-20', ECPS_TRANSPORT: 'memory', ECPS_LOG_ENABLED: 'false' });
    robot.eap.onAction('gripper', () => undefined);
    await planner.eap.send('gripper', { command: 'OPEN' }, { snapshot: new Uint8Array(32) });
    await robot.close();
    const [log] = readdirSync(logDir);
    const contents = await readEaplog(join(logDir, log!));
    expect((contents.header as unknown as Map<string, unknown>).get('version')).toBe('2.0');
  });

  it('signs with the software keystore at ECPS_SECURITY_LEVEL=authenticated', async () => {
    const node = await start({ ECPS_NODE_ID: 'signer', ECPS_TRANSPORT: 'memory', ECPS_SECURITY_LEVEL: 'authenticated', ECPS_LOG_ENABLED: 'false', ...keystore('signer') });
    expect(node.trustLevel).toBe(2);
    expect(node.effectiveConfig.trust).toEqual({ level: 'authenticated', sealed: false, keys: 'keystore', hardware: 'off' });
    expect(node.effectiveConfig.settings.security.keystorePassphrase).toBe('<redacted>');
  });
});

describe('ECPS_TRUSTED_KEYS', () => {
  it('accepts messages signed by a listed key and rejects the others', async () => {
    const bus = new MemoryBus();
    const signer = async (id: string) => {
      const provider = new SoftwareKeyProvider();
      const key = await provider.generateKey(`${id}-signing`, 'ed25519');
      const node = await createNode({ id, transport: memoryTransport({ nodeId: id, bus }), eap: { log: false }, trust: softwareTrust({ level: 'authenticated', confidentiality: false, keys: new KeyDirectory(), provider }) });
      nodes.push(node as ConfiguredNode);
      return { node, entry: { principalId: id, keyId: key.id, algorithm: key.algorithm, publicKey: Buffer.from(key.publicKey!).toString('base64') } };
    };
    const controller = await signer('controller');
    const intruder = await signer('intruder');
    const trusted = join(dir, 'trusted-keys.json');
    writeFileSync(trusted, JSON.stringify([controller.entry]));
    const robot = await createNodeFromConfig({
      env: { ECPS_NODE_ID: 'robot-signed', ECPS_SECURITY_LEVEL: 'authenticated', ECPS_TRUSTED_KEYS: trusted, ECPS_LOG_ENABLED: 'false', ...keystore('robot-signed') },
      importBackend: (name) => (name === '@ecps/transport-memory' ? Promise.resolve({ memoryTransport: (o: { nodeId: string }) => memoryTransport({ ...o, bus }) }) : import(name)),
      settings: { transport: 'memory' },
    });
    nodes.push(robot);
    const got: string[] = [];
    await robot.subscribe('MCP', 'mcp', (m) => void got.push(m.id));
    const prompt = (id: string) => ({ spec: 'mcp/1.0', id, prompt: 'wave', toolJson: new Uint8Array(), meta: {} });
    await intruder.node.publish('MCP', 'mcp', prompt('from-intruder'));
    await controller.node.publish('MCP', 'mcp', prompt('from-controller'));
    await waitFor(() => got.length >= 1, 'the trusted message');
    await sleep(50);
    expect(got).toEqual(['from-controller']);
  });

  it('runs session mode with ECPS_SECURITY_SESSION: messages travel AEAD-sealed, after one key exchange', async () => {
    const bus = new MemoryBus();
    const provider = new SoftwareKeyProvider();
    const key = await provider.generateKey('controller-signing', 'ed25519');
    const controllerKeys = new KeyDirectory();
    const controller = await createNode({
      id: 'controller',
      transport: memoryTransport({ nodeId: 'controller', bus }),
      eap: { log: false },
      trust: softwareTrust({ level: 'authenticated', keys: controllerKeys, provider, session: true }),
    });
    nodes.push(controller as ConfiguredNode);
    const trusted = join(dir, 'session-trusted-keys.json');
    writeFileSync(trusted, JSON.stringify([{ principalId: 'controller', keyId: key.id, algorithm: key.algorithm, publicKey: Buffer.from(key.publicKey!).toString('base64') }]));
    const robot = await createNodeFromConfig({
      env: { ECPS_NODE_ID: 'robot-session', ECPS_SECURITY_LEVEL: 'authenticated', ECPS_SECURITY_SESSION: 'true', ECPS_TRUSTED_KEYS: trusted, ECPS_LOG_ENABLED: 'false', ...keystore('robot-session') },
      importBackend: (name) => (name === '@ecps/transport-memory' ? Promise.resolve({ memoryTransport: (o: { nodeId: string }) => memoryTransport({ ...o, bus }) }) : import(name)),
      settings: { transport: 'memory' },
    });
    nodes.push(robot);
    const robotProvider = await loadKeystore(keystore('robot-session').ECPS_KEYSTORE, 'correct horse');
    const info = await robotProvider.getKey('robot-session-signing');
    controllerKeys.add({ principalId: 'robot-session', keyId: info.id, algorithm: info.algorithm, publicKey: info.publicKey! });
    const wire: string[] = [];
    const spy = memoryTransport({ nodeId: 'spy', bus });
    await spy.subscribe('#', (e) => void wire.push(e.type));
    const got: string[] = [];
    await robot.subscribe('MCP', 'mcp', (m) => void got.push(m.id));
    const prompt = (id: string) => ({ spec: 'mcp/1.0', id, prompt: 'wave', toolJson: new Uint8Array(), meta: {} });
    // the first message reaches a robot it has no session with yet: the robot runs the exchange, later ones arrive
    for (let i = 0; got.length === 0 && i < 100; i++) {
      await controller.publish('MCP', 'mcp', prompt(`p${i}`));
      await sleep(20);
    }
    await spy.close();
    expect(got.length).toBeGreaterThan(0);
    expect(wire).toContain('ecps.ext.session.handshake');
    expect(wire.filter((t) => !t.startsWith('ecps.ext.session'))).toEqual([]);
  });

  it.each([
    ['[{"principalId": "x"}]', /entry 0 needs principalId, keyId, algorithm and publicKey/],
    ['{"keys": []}', /not a JSON array/],
    ['[{"principalId": "x", "keyId": "k", "algorithm": "ed25519", "publicKey": "AAAA"}]', /malformed ed25519 public key/],
  ])('refuses %s with a ConfigError naming ECPS_TRUSTED_KEYS', async (text, why) => {
    const file = join(dir, 'bad-keys.json');
    writeFileSync(file, text);
    const env = { ECPS_NODE_ID: 'n', ECPS_TRANSPORT: 'memory', ECPS_SECURITY_LEVEL: 'authenticated', ECPS_TRUSTED_KEYS: file, ...keystore('bad-keys') };
    const error = await createNodeFromConfig({ env }).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ name: 'ConfigError', details: { setting: 'ECPS_TRUSTED_KEYS' } });
    expect((error as Error).message).toMatch(why);
  });
});

it('hosts a MEP store with ECPS_MEP_STORE', async () => {
  const plain = await start({ ECPS_NODE_ID: 'mep-client', ECPS_TRANSPORT: 'memory', ECPS_LOG_ENABLED: 'false' });
  const host = await start({ ECPS_NODE_ID: 'mep-host', ECPS_TRANSPORT: 'memory', ECPS_LOG_ENABLED: 'false', ECPS_MEP_STORE: 'true' });
  expect(plain.mep.store).toBeUndefined();
  expect(host.mep.store).toBeDefined();
});

describe('hardware fallback policy', () => {
  it('preferred TPM, unusable (package not installed or no TPM device): falls back to the keystore, warns and says so', async () => {
    warnings.length = 0;
    const node = await start({
      ECPS_NODE_ID: 'tpm-preferred',
      ECPS_TRANSPORT: 'memory',
      ECPS_SECURITY_LEVEL: 'authenticated',
      ECPS_HARDWARE_SECURITY: 'preferred',
      ECPS_LOG_ENABLED: 'false',
      ...keystore('tpm-preferred'),
    });
    expect(node.effectiveConfig.trust).toEqual({ level: 'authenticated', sealed: false, keys: 'keystore', hardware: 'unavailable' });
    expect(node.effectiveConfig.warnings).toEqual([expect.stringMatching(/hardware key store tpm unavailable .*(@ecps\/trust-tpm|\/dev\/tpmrm0).*using software keys/)]);
    expect(warnings).toEqual(node.effectiveConfig.warnings);
  });
});
