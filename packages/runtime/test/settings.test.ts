// SPDX-License-Identifier: Apache-2.0
// Every setting, table-driven: file < environment < option precedence, and a typed error naming the setting for
// each bad value. The table must list every setting of SETTINGS, and the README must document each one.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, MAX_CONFIG_FILE_BYTES, SETTINGS, redactSettings, resolveNodeSettings, resolveSettings, type NodeSettings } from '../src/index';

interface Row {
  /** Value in a config file, value in the environment (a string), value given as an option, and what each resolves to. */
  file: unknown;
  env: string;
  envParsed: unknown;
  option: unknown;
  /** Bad raw values: from the environment (when one exists: free-form strings accept any) and from the file. */
  badEnv?: string;
  badFile: unknown;
}

const ROWS: Record<string, Row> = {
  nodeId: { file: 'from-file', env: 'from-env', envParsed: 'from-env', option: 'from-option', badEnv: 'bad id', badFile: 7 },
  profile: { file: 'edge-lite', env: 'cloud-fleet', envParsed: 'cloud-fleet', option: 'standard', badEnv: 'huge', badFile: true },
  topicPrefix: { file: 'f/', env: 'e/', envParsed: 'e/', option: 'o/', badFile: 1 },
  transport: { file: 'grpc', env: 'mqtt', envParsed: 'mqtt', option: 'memory', badEnv: 'carrier-pigeon', badFile: 3 },
  'mqtt.broker': { file: 'mqtt://f:1883', env: 'mqtts://e:8883', envParsed: 'mqtts://e:8883', option: 'ws://o:80', badEnv: 'http://x', badFile: 'broker' },
  'mqtt.protocolVersion': { file: 4, env: '5', envParsed: 5, option: 4, badEnv: '3', badFile: '4.5' },
  'mqtt.username': { file: 'fu', env: 'eu', envParsed: 'eu', option: 'ou', badFile: ['x'] },
  'mqtt.password': { file: 'fp', env: 'ep', envParsed: 'ep', option: 'op', badFile: 12 },
  'grpc.target': { file: 'f:1', env: 'e:2', envParsed: 'e:2', option: 'o:3', badEnv: 'no-port', badFile: 50051 },
  'dds.domainId': { file: 1, env: '2', envParsed: 2, option: 3, badEnv: '233', badFile: -1 },
  connectTimeoutMs: { file: 1000, env: '2500', envParsed: 2500, option: 600_000, badEnv: '50', badFile: '1s' },
  'security.level': { file: 'authorized', env: 'encryption', envParsed: 'encryption', option: 'audited', badEnv: 'paranoid', badFile: 2 },
  'security.session': { file: true, env: 'false', envParsed: false, option: true, badEnv: 'maybe', badFile: 'yes please' },
  'security.keystore': { file: '/f.key', env: '/e.key', envParsed: '/e.key', option: '/o.key', badFile: false },
  'security.keystorePassphrase': { file: 'f', env: 'e', envParsed: 'e', option: 'o', badFile: 1 },
  'security.trustedKeys': { file: '/f.json', env: '/e.json', envParsed: '/e.json', option: '/o.json', badFile: {} },
  'security.sealingKeystore': { file: '/f.ks', env: '/e.ks', envParsed: '/e.ks', option: '/o.ks', badFile: 1 },
  'security.sealingPassphrase': { file: 'f', env: 'e', envParsed: 'e', option: 'o', badFile: true },
  'security.sealingKeyId': { file: 'fleet-f', env: 'fleet-e', envParsed: 'fleet-e', option: 'fleet-o', badFile: 7 },
  'security.principals': { file: '/f.yaml', env: '/e.yaml', envParsed: '/e.yaml', option: '/o.yaml', badFile: ['x'] },
  'security.auditLog': { file: '/f.jsonl', env: '/e.jsonl', envParsed: '/e.jsonl', option: '/o.jsonl', badFile: 0 },
  'hardware.mode': { file: 'preferred', env: 'required', envParsed: 'required', option: 'off', badEnv: 'sometimes', badFile: false },
  'hardware.backend': { file: 'pkcs11', env: 'tpm', envParsed: 'tpm', option: 'pkcs11', badEnv: 'sgx', badFile: 1 },
  'hardware.tpmDevice': { file: '/dev/f', env: '/dev/e', envParsed: '/dev/e', option: '/dev/o', badFile: 0 },
  'hardware.tpmKeyFile': { file: '/f', env: '/e', envParsed: '/e', option: '/o', badFile: 0 },
  'hardware.pkcs11Module': { file: '/f.so', env: '/e.so', envParsed: '/e.so', option: '/o.so', badFile: 0 },
  'hardware.pkcs11Token': { file: 'ft', env: 'et', envParsed: 'et', option: 'ot', badFile: 0 },
  'hardware.pkcs11Pin': { file: '1111', env: '2222', envParsed: '2222', option: '3333', badFile: 1111 },
  'log.enabled': { file: false, env: 'true', envParsed: true, option: false, badEnv: 'maybe', badFile: 'sometimes' },
  'log.dir': { file: '/f', env: '/e', envParsed: '/e', option: '/o', badFile: 1 },
  'log.version': { file: '2.0', env: '2.1', envParsed: '2.1', option: '2.0', badEnv: '1.1', badFile: 3 },
  'log.compression': { file: 'zstd', env: 'deflate', envParsed: 'deflate', option: 'none', badEnv: 'lz4', badFile: true },
  'log.encryption': { file: 'kms', env: 'none', envParsed: 'none', option: 'kms', badEnv: 'rot13', badFile: 1 },
  'kms.provider': { file: 'vault', env: 'aws_kms', envParsed: 'aws_kms', option: 'gcp_kms', badEnv: 'ibm', badFile: 1 },
  'kms.keyId': { file: 'fk', env: 'ek', envParsed: 'ek', option: 'ok', badFile: 1 },
  'eap.handlers': { file: './f.js', env: './e.js', envParsed: './e.js', option: './o.js', badFile: 1 },
  'mep.store': { file: true, env: 'false', envParsed: false, option: true, badEnv: '2', badFile: 'yes please' },
  'coordination.backend': { file: 'etcd', env: 'raft', envParsed: 'raft', option: 'none', badEnv: 'zookeeper', badFile: 1 },
  'coordination.namespace': { file: 'f/', env: 'e/', envParsed: 'e/', option: 'o/', badEnv: 'with space', badFile: 1 },
  'coordination.timeoutMs': { file: 1000, env: '2500', envParsed: 2500, option: 600_000, badEnv: '99', badFile: '5s' },
  'raft.clusterId': { file: 'f', env: 'e', envParsed: 'e', option: 'o', badEnv: 'a/b', badFile: 1 },
  'raft.members': { file: ['f1', 'f2', 'f3'], env: 'e1, e2,e3', envParsed: ['e1', 'e2', 'e3'], option: ['o1'], badEnv: 'a,,b', badFile: [] },
  'etcd.endpoints': { file: ['http://f:2379'], env: 'http://e1:2379,https://e2:2379', envParsed: ['http://e1:2379', 'https://e2:2379'], option: ['http://[::1]:2379'], badEnv: 'e1:2379', badFile: 'http://f:2379 http://g:2379' },
  'etcd.username': { file: 'fu', env: 'eu', envParsed: 'eu', option: 'ou', badFile: 1 },
  'etcd.password': { file: 'fp', env: 'ep', envParsed: 'ep', option: 'op', badFile: 1 },
  'observability.enabled': { file: true, env: '0', envParsed: false, option: true, badEnv: 'loud', badFile: 1 },
};

const nested = (key: string, value: unknown): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  let at = out;
  const parts = key.split('.');
  for (const p of parts.slice(0, -1)) at = (at[p] = {}) as Record<string, unknown>;
  at[parts.at(-1)!] = value;
  return out;
};
const get = (s: NodeSettings, key: string): unknown => key.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], s);
const BASE_ENV = { ECPS_NODE_ID: 'n1' };

const dir = mkdtempSync(join(tmpdir(), 'ecps-runtime-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('every setting', () => {
  it('has a row in this table and a line in the README settings table', () => {
    expect(Object.keys(ROWS).sort()).toEqual(SETTINGS.map((s) => s.key).sort());
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    for (const s of SETTINGS) expect(readme).toMatch(new RegExp(`^\\| \`${s.env}\` \\| \`${s.key.replace('.', '\\.')}\` \\|.*\\| \`?${s.reader.replace('/', '\\/')}\`? \\|$`, 'm'));
  });

  describe.each(SETTINGS.map((s) => [s.env, s] as const))('%s', (_env, spec) => {
    const row = ROWS[spec.key]!;
    it('takes the default, then the file, then the environment, then the option', () => {
      const env = spec.key === 'nodeId' ? {} : BASE_ENV;
      if (spec.key !== 'nodeId') expect(get(resolveSettings({ env }).settings, spec.key)).toEqual(spec.default);
      const file = nested(spec.key, row.file);
      const fromFile = resolveSettings({ env: spec.key === 'nodeId' ? {} : env, file: spec.key === 'nodeId' ? file : { ...file, nodeId: 'n1' } });
      expect(get(fromFile.settings, spec.key)).toEqual(row.file);
      expect(fromFile.sources[spec.key]).toBe('file');
      const withEnv = { ...BASE_ENV, [spec.env]: row.env };
      const fromEnv = resolveSettings({ env: withEnv, file });
      expect(get(fromEnv.settings, spec.key)).toEqual(row.envParsed);
      expect(fromEnv.sources[spec.key]).toBe('env');
      const fromOption = resolveSettings({ env: withEnv, file, options: nested(spec.key, row.option) });
      expect(get(fromOption.settings, spec.key)).toEqual(row.option);
      expect(fromOption.sources[spec.key]).toBe('option');
    });

    it('refuses a bad value with a ConfigError naming the setting', () => {
      const shown = spec.secret ? '<redacted>' : row.badFile;
      expect(() => resolveSettings({ env: BASE_ENV, file: nested(spec.key, row.badFile) })).toThrow(
        expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', details: { setting: `${spec.key} (config file)`, value: shown, source: 'file' } }),
      );
      expect(() => resolveSettings({ env: BASE_ENV, options: nested(spec.key, row.badFile) as never })).toThrow(
        expect.objectContaining({ details: { setting: spec.key, value: shown, source: 'option' } }),
      );
      if (row.badEnv === undefined) return;
      let thrown: unknown;
      try {
        resolveSettings({ env: { ...BASE_ENV, [spec.env]: row.badEnv } });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as ConfigError).details).toEqual({ setting: spec.env, value: spec.secret ? '<redacted>' : row.badEnv, source: 'env' });
      expect((thrown as ConfigError).message).toContain(spec.env);
    });
  });
});

describe('config files', () => {
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads YAML and JSON files named by ECPS_CONFIG', () => {
    const yaml = write('robot.yaml', 'nodeId: arm-1\nprofile: cloud-fleet\ntransport: mqtt\nmqtt:\n  broker: mqtt://10.0.0.5:1883\n');
    expect(resolveNodeSettings({ env: { ECPS_CONFIG: yaml } }).settings).toMatchObject({ nodeId: 'arm-1', transport: 'mqtt', mqtt: { broker: 'mqtt://10.0.0.5:1883' } });
    const json = write('robot.json', JSON.stringify({ nodeId: 'arm-2', transport: 'grpc', grpc: { target: 'hub:50051' } }));
    expect(resolveNodeSettings({ env: { ECPS_CONFIG: json } }).settings).toMatchObject({ nodeId: 'arm-2', grpc: { target: 'hub:50051' } });
  });

  it.each([
    ['missing.yaml', null, /cannot read it/],
    ['bad.yaml', 'nodeId: [unclosed', /not valid YAML/],
    ['bad.json', '{"nodeId": ', /not valid JSON/],
    ['list.yaml', '- a\n- b\n', /not an object of settings/],
    // a "billion laughs" document: alias expansion is bounded, so it is refused instead of exhausting memory
    ['laughs.yaml', ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefg'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n'), /not valid YAML.*alias/i],
    ['huge.yaml', `# ${'x'.repeat(MAX_CONFIG_FILE_BYTES)}\n`, /larger than 1048576 bytes/],
  ])('refuses %s with a ConfigError naming ECPS_CONFIG', (name, text, why) => {
    const path = text === null ? join(dir, name) : write(name, text);
    expect(() => resolveNodeSettings({ env: { ECPS_CONFIG: path } })).toThrow(expect.objectContaining({ name: 'ConfigError', details: { setting: 'ECPS_CONFIG', value: path } }));
    expect(() => resolveNodeSettings({ env: { ECPS_CONFIG: path } })).toThrow(why);
  });

  it('refuses a misspelt setting instead of ignoring it', () => {
    const path = write('typo.yaml', 'nodeId: a\nmqtt:\n  brokr: mqtt://x\n');
    expect(() => resolveNodeSettings({ env: { ECPS_CONFIG: path } })).toThrow(expect.objectContaining({ details: { setting: 'mqtt.brokr', source: 'file' } }));
  });
});

describe('settings that depend on each other', () => {
  it.each([
    [{ ECPS_TRANSPORT: 'mqtt' }, 'ECPS_TRANSPORT', /profile standard does not allow mqtt/],
    [{ ECPS_MQTT_PASSWORD: 'pw' }, 'ECPS_MQTT_PASSWORD', /needs ECPS_MQTT_USERNAME/],
    [{ ECPS_LOG_ENCRYPTION: 'kms' }, 'ECPS_LOG_ENCRYPTION', /needs ECPS_KMS_PROVIDER/],
    [{ ECPS_LOG_VERSION: '2.0', ECPS_LOG_COMPRESSION: 'zstd' }, 'ECPS_LOG_VERSION', /2\.0 logs have no compression/],
    [{ ECPS_HARDWARE_SECURITY: 'required', ECPS_HARDWARE_BACKEND: 'pkcs11' }, 'ECPS_PKCS11_MODULE', /required with ECPS_HARDWARE_BACKEND=pkcs11/],
    [{ ECPS_SECURITY_LEVEL: 'authenticated' }, 'ECPS_KEYSTORE', /needs a keystore/],
    [{ ECPS_SECURITY_LEVEL: 'authenticated', ECPS_KEYSTORE: '/k' }, 'ECPS_KEYSTORE_PASSPHRASE', /needs a keystore and its passphrase/],
  ])('%j is refused naming %s', (env, setting, why) => {
    expect(() => resolveNodeSettings({ env: { ...BASE_ENV, ...env } })).toThrow(expect.objectContaining({ name: 'ConfigError', details: expect.objectContaining({ setting }) }));
    expect(() => resolveNodeSettings({ env: { ...BASE_ENV, ...env } })).toThrow(why);
  });

  it('needs a node id', () => {
    expect(() => resolveNodeSettings({ env: {} })).toThrow(expect.objectContaining({ details: { setting: 'ECPS_NODE_ID' } }));
  });
});

it('redacts every secret and nothing else', () => {
  const { settings } = resolveSettings({
    env: { ...BASE_ENV, ECPS_MQTT_PASSWORD: 'hunter2', ECPS_KEYSTORE_PASSPHRASE: 'open sesame', ECPS_PKCS11_PIN: '1234', ECPS_MQTT_USERNAME: 'robot', ECPS_ETCD_USERNAME: 'fleet', ECPS_ETCD_PASSWORD: 'swordfish' },
  });
  const redacted = redactSettings(settings);
  expect(JSON.stringify(redacted)).not.toMatch(/hunter2|open sesame|1234|swordfish/);
  expect(redacted.etcd).toMatchObject({ username: 'fleet', password: '<redacted>' });
  expect(redacted.mqtt).toMatchObject({ username: 'robot', password: '<redacted>' });
  expect(redacted.security.keystorePassphrase).toBe('<redacted>');
  expect(redacted.hardware.pkcs11Pin).toBe('<redacted>');
  expect(settings.mqtt.password).toBe('hunter2'); // the original is untouched
});
