// SPDX-License-Identifier: Apache-2.0
// `ecps node` and `ecps init` as real processes: an MQTT node (Mosquitto) and a gRPC node executing EAP actions sent
// by another node and logging them; backends configured but not installed; hardware required/preferred on a TPM
// and on a PKCS#11 token (SoftHSM2); SIGTERM leaving a valid .eaplog; --print-config; a bad configuration.
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readEaplog, validateEaplog } from '@ecps/eaplog';
import { createNode, type EcpsNode } from '@ecps/runtime';
import { bundleEntry, createSoftHsmToken, softHsmAvailable, startMosquitto, type MosquittoHandle, type SoftHsmToken } from '@ecps/testkit';
import { grpcBusServer, grpcTransport, type GrpcBusServer } from '@ecps/transport-grpc';
import { mqttTransport } from '@ecps/transport-mqtt';
import { ecpsRunner, type EcpsChild, type EcpsRunner } from './fixtures/ecps-child';

const appRoot = join(import.meta.dirname, '..');
let cli: string;
let dir: string;
let mosquitto: MosquittoHandle | undefined;
let bus: GrpcBusServer | undefined;
let token: SoftHsmToken | undefined;
let runner: EcpsRunner;

beforeAll(async () => {
  cli = await bundleEntry(join(import.meta.dirname, 'fixtures', 'node-cli.ts'), appRoot, 'ecps-node-cli', { bundleDependencies: { external: ['@mongodb-js/zstd'] } });
  dir = mkdtempSync(join(tmpdir(), 'ecps-node-cmd-'));
  runner = ecpsRunner(cli, dir);
  writeFileSync(
    join(dir, 'handlers.mjs'),
    `export default (node) => {\n  node.eap.onAction('gripper', (body, ctx) => { console.log('executed gripper ' + body.command + ' from ' + ctx.sender); });\n};\n`,
  );
});
afterAll(async () => {
  await runner?.stopAll();
  await mosquitto?.stop();
  await bus?.close();
  token?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const ecps = (args: string[], env: Record<string, string> = {}): EcpsChild => runner.run(args, env);

const snapshot = new Uint8Array(32).fill(7);

async function sendGripper(sender: EcpsNode): Promise<void> {
  await sender.eap.send('gripper', { command: 'CLOSE' }, { snapshot });
}

async function expectValidLog(logDir: string): Promise<void> {
  const logs = readdirSync(logDir).filter((f) => f.endsWith('.eaplog'));
  expect(logs).toHaveLength(1);
  const path = join(logDir, logs[0]!);
  const report = await validateEaplog(path);
  expect(report).toMatchObject({ valid: true });
  const contents = await readEaplog(path);
  expect(contents.messages.length).toBeGreaterThanOrEqual(1);
}

describe('ecps node', () => {
  it('an MQTT node from a YAML file executes an EAP action sent by another node, logs it, and leaves a valid .eaplog on SIGTERM', async () => {
    mosquitto = await startMosquitto();
    const logDir = join(dir, 'mqtt-logs');
    const config = join(dir, 'robot.yaml');
    writeFileSync(
      config,
      `nodeId: arm-1\nprofile: cloud-fleet\ntransport: mqtt\nmqtt:\n  broker: ${mosquitto.url}\n  username: arm-1\n  password: hunter2\nlog:\n  dir: ${logDir}\neap:\n  handlers: ${join(dir, 'handlers.mjs')}\n`,
    );
    const robot = ecps(['node', '--config', config]);
    await robot.waitFor(/ready/);
    expect(robot.lines).toEqual(
      expect.arrayContaining([
        'arm-1 up',
        `  transport: mqtt ${mosquitto.url} connected (profile cloud-fleet)`,
        '  trust: none, keys none, hardware off',
        expect.stringMatching(/^ {2}eap: handlers .*handlers\.mjs; action log .*mqtt-logs \(version 2\.1/),
      ]),
    );
    const planner = await createNode({ id: 'planner', profile: 'cloud-fleet', eap: { log: false }, transport: ({ nodeId }) => mqttTransport({ url: mosquitto!.url, nodeId }) });
    try {
      await sendGripper(planner);
      await robot.waitFor(/executed gripper/);
      expect(robot.lines).toContain('executed gripper 2 from planner');
    } finally {
      await planner.close();
    }
    expect(await robot.stop()).toBe(0);
    expect(robot.err.slice(-2)).toEqual(['ecps node: closing', 'ecps node: stopped']);
    await expectValidLog(logDir);
    expect(robot.err.join('\n')).not.toContain('hunter2');
  });

  it('ECPS_OBSERVABILITY=true: the node traces its traffic and exports it where OTEL_EXPORTER_OTLP_ENDPOINT says, as its node id', async () => {
    mosquitto ??= await startMosquitto();
    const bodies: string[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/v1/traces') bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
      const robot = ecps(['node'], {
        ECPS_NODE_ID: 'arm-traced',
        ECPS_PROFILE: 'cloud-fleet',
        ECPS_TRANSPORT: 'mqtt',
        ECPS_MQTT_BROKER: mosquitto.url,
        ECPS_LOG_ENABLED: 'false',
        ECPS_OBSERVABILITY: 'true',
        ECPS_EAP_HANDLERS: join(dir, 'handlers.mjs'),
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_METRICS_EXPORTER: 'none',
      });
      await robot.waitFor(/ready/);
      expect(robot.lines).toContain('  observability: traced, exported over OTLP/HTTP');
      const planner = await createNode({ id: 'planner-t', profile: 'cloud-fleet', eap: { log: false }, transport: ({ nodeId }) => mqttTransport({ url: mosquitto!.url, nodeId }) });
      try {
        await sendGripper(planner);
        await robot.waitFor(/executed gripper/);
      } finally {
        await planner.close();
      }
      expect(await robot.stop()).toBe(0); // shutting down flushes the last batch
      const exported = bodies.join('\n');
      expect(exported).toContain('{"key":"service.name","value":{"stringValue":"arm-traced"}}');
      expect(exported).toMatch(/"name":"process [^"]*eap/);
    } finally {
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });

  it('the same node with ECPS_TRANSPORT=grpc, configured by the environment alone', async () => {
    bus = await grpcBusServer({ host: '127.0.0.1', port: 0 });
    const logDir = join(dir, 'grpc-logs');
    const robot = ecps(['node'], { ECPS_NODE_ID: 'arm-2', ECPS_TRANSPORT: 'grpc', ECPS_GRPC_TARGET: bus.address, ECPS_LOG_DIR: logDir, ECPS_EAP_HANDLERS: join(dir, 'handlers.mjs') });
    await robot.waitFor(/ready/);
    expect(robot.lines).toContain(`  transport: grpc ${bus.address} connected (profile standard)`);
    const planner = await createNode({ id: 'planner-2', eap: { log: false }, transport: ({ nodeId }) => grpcTransport({ target: bus!.address, nodeId }) });
    try {
      await sendGripper(planner);
      await robot.waitFor(/executed gripper/);
    } finally {
      await planner.close();
    }
    expect(await robot.stop()).toBe(0);
    await expectValidLog(logDir);
  });

  // Backends whose packages apps/ecps does not depend on (yet): configured, they exit 2 naming the package.
  const appRequire = createRequire(join(appRoot, 'package.json'));
  const installed = (name: string) => {
    try {
      appRequire.resolve(name);
      return true;
    } catch {
      return false;
    }
  };
  const missing: Array<[string, Record<string, string>]> = (
    [
      ['@ecps/transport-dds', { ECPS_TRANSPORT: 'dds' }],
      ['@ecps/kms-vault', { ECPS_TRANSPORT: 'memory', ECPS_LOG_ENCRYPTION: 'kms', ECPS_KMS_PROVIDER: 'vault', ECPS_KMS_KEY_ID: 'log' }],
    ] as Array<[string, Record<string, string>]>
  ).filter(([name]) => !installed(name));
  // when every backend of the table is installed, the runtime's own tests cover the missing-package path
  (missing.length > 0 ? it.each(missing) : it.skip.each([['(every backend is installed)', {}] as [string, Record<string, string>]]))('a configured backend that is not installed (%s): exit 2 naming the package to install', async (packageName, env) => {
    const run = ecps(['node'], { ECPS_NODE_ID: 'lonely', ...env });
    expect(await run.exited).toBe(2);
    expect(run.err.join('\n')).toContain(`needs the package ${packageName}, which is not installed: install it (pnpm add ${packageName})`);
  });

  const keystore = (id: string) => ({ ECPS_KEYSTORE: join(dir, `${id}.keystore`), ECPS_KEYSTORE_PASSPHRASE: 'correct horse' });
  const secure = { ECPS_TRANSPORT: 'memory', ECPS_SECURITY_LEVEL: 'authenticated', ECPS_LOG_ENABLED: 'false' };

  it('hardware required without a TPM: fails closed, saying why', async () => {
    const run = ecps(['node'], { ECPS_NODE_ID: 'tpm-required', ...secure, ECPS_HARDWARE_SECURITY: 'required', ECPS_TPM_DEVICE: join(dir, 'no-tpm-here') });
    expect(await run.exited).not.toBe(0);
    // without @ecps/trust-tpm: the package to install; with it: the device that cannot be opened
    expect(run.err.join('\n')).toMatch(/@ecps\/trust-tpm, which is not installed|tpm key store cannot be used/);
    expect(run.err).not.toContain('ecps node: tpm-required ready (Ctrl-C to stop)');
  });

  it('hardware preferred without a TPM: falls back to software keys and says so', async () => {
    const run = ecps(['node'], { ECPS_NODE_ID: 'tpm-preferred', ...secure, ECPS_HARDWARE_SECURITY: 'preferred', ECPS_TPM_DEVICE: join(dir, 'no-tpm-here'), ...keystore('tpm-preferred') });
    await run.waitFor(/ready/);
    expect(run.lines).toContain('  trust: authenticated, keys keystore, hardware unavailable (1 warning)');
    expect(run.err.join('\n')).toMatch(/^WARN  hardware key store tpm unavailable .*; using software keys \{"setting":"ECPS_HARDWARE_SECURITY","backend":"tpm"\}$/m);
    expect(await run.stop()).toBe(0);
  });

  const hsm = softHsmAvailable() ? describe : describe.skip;
  hsm('on a PKCS#11 token (SoftHSM2)', () => {
    const pkcs11 = () => {
      token ??= createSoftHsmToken();
      return { SOFTHSM2_CONF: token.configPath, ECPS_HARDWARE_BACKEND: 'pkcs11', ECPS_PKCS11_MODULE: token.modulePath, ECPS_PKCS11_TOKEN: token.label, ECPS_PKCS11_PIN: token.pin };
    };

    it('required: the signing key lives on the token', async () => {
      const run = ecps(['node'], { ECPS_NODE_ID: 'hsm-node', ...secure, ECPS_HARDWARE_SECURITY: 'required', ...pkcs11() });
      await run.waitFor(/ready/);
      expect(run.lines).toContain('  trust: authenticated, keys pkcs11, hardware in use');
      expect(await run.stop()).toBe(0);
    });

    it('required, token absent: exit 1 naming the token; preferred: falls back', async () => {
      const absent = { ...pkcs11(), ECPS_PKCS11_TOKEN: 'no-such-token' };
      const failed = ecps(['node'], { ECPS_NODE_ID: 'hsm-absent', ...secure, ECPS_HARDWARE_SECURITY: 'required', ...absent });
      expect(await failed.exited).toBe(1);
      expect(failed.err.join('\n')).toContain('ECPS_HARDWARE_SECURITY=required: the pkcs11 key store cannot be used: no PKCS#11 token labelled no-such-token');
      const fallback = ecps(['node'], { ECPS_NODE_ID: 'hsm-fallback', ...secure, ECPS_HARDWARE_SECURITY: 'preferred', ...absent, ...keystore('hsm-fallback') });
      await fallback.waitFor(/ready/);
      expect(fallback.lines).toContain('  trust: authenticated, keys keystore, hardware unavailable (1 warning)');
      expect(await fallback.stop()).toBe(0);
    });
  });

  it('--print-config shows the effective configuration with secrets redacted; a bad value exits 2 naming the setting', async () => {
    const shown = ecps(['node', '--print-config'], { ECPS_NODE_ID: 'cfg', ECPS_PROFILE: 'cloud-fleet', ECPS_TRANSPORT: 'mqtt', ECPS_MQTT_USERNAME: 'cfg', ECPS_MQTT_PASSWORD: 'hunter2' });
    expect(await shown.exited).toBe(0);
    const printed = JSON.parse(shown.lines.join('\n')) as { settings: { mqtt: { password: string }; transport: string }; sources: Record<string, string> };
    expect(printed.settings).toMatchObject({ transport: 'mqtt', mqtt: { password: '<redacted>' } });
    expect(printed.sources).toMatchObject({ transport: 'env', 'mqtt.broker': 'default' });
    const bad = ecps(['node'], { ECPS_NODE_ID: 'cfg', ECPS_PROFILE: 'cloud-fleet', ECPS_TRANSPORT: 'mqtt', ECPS_MQTT_BROKER: 'http://wrong' });
    expect(await bad.exited).toBe(2);
    expect(bad.err).toEqual([expect.stringContaining('ecps node: ECPS_MQTT_BROKER: invalid value "http://wrong"'), expect.stringMatching(/^hint: the settings are listed by 'ecps init'/)]);
    expect(bad.lines).toEqual([]);
  });
});

describe('ecps init', () => {
  it('writes a commented example that ecps node accepts, and never overwrites without --force', async () => {
    const file = join(dir, 'example.yaml');
    const init = ecps(['init', '--output', file]);
    expect(await init.exited).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# broker URL (ECPS_MQTT_BROKER; read by @ecps/transport-mqtt)');
    expect(text).toContain('  # password: ""');
    const shown = ecps(['node', '--config', file, '--print-config']);
    expect(await shown.exited).toBe(0);
    expect(JSON.parse(shown.lines.join('\n'))).toMatchObject({ settings: { nodeId: 'robot-1', transport: 'mqtt', profile: 'cloud-fleet' }, sources: { nodeId: 'file' } });
    const again = ecps(['init', '--output', file]);
    expect(await again.exited).toBe(2);
    expect(again.err).toEqual([`ecps init: ${file} exists`, 'hint: use --force to overwrite it']);
  });
});
