// SPDX-License-Identifier: Apache-2.0
// ECPS_SECURITY_LEVEL above authenticated, from configuration alone: each level shown to take effect on EAP actions
// between nodes (sealing hides payloads from a peer without the fleet key; RBAC refuses a principal the policy does
// not allow; auditing appends a record per decision), and each level's missing or unusable prerequisite refused
// with a ConfigError naming its setting.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EcpsEvent } from '@ecps/core';
import { sleep, waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { SEALED_EVENT_TYPE, SoftwareKeyProvider, saveKeystore, type AuditEvent } from '@ecps/trust';
import { createNodeFromConfig, type ConfiguredNode } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'ecps-runtime-levels-'));
const bus = new MemoryBus();
const nodes: ConfiguredNode[] = [];
afterAll(async () => {
  for (const n of nodes) await n.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Cheap scrypt for test keystores (the cost is the file's, read back by the node). */
const KDF = { N: 2 ** 10 };
const PASS = 'correct horse';
const snapshot = new Uint8Array(32).fill(7);

/** Memory transports on this file's own bus. */
const importBackend = (name: string) =>
  name === '@ecps/transport-memory' ? Promise.resolve({ memoryTransport: (o: { nodeId: string }) => memoryTransport({ ...o, bus }) }) : import(name);

async function start(env: Record<string, string>): Promise<ConfiguredNode> {
  const node = await createNodeFromConfig({ env: { ECPS_TRANSPORT: 'memory', ECPS_LOG_ENABLED: 'false', ...env }, importBackend });
  nodes.push(node);
  return node;
}

/** A keystore holding `keyId` of `algorithm`; returns its path and the key's trusted-keys entry. */
async function keystore(name: string, keyId: string, algorithm: 'ed25519' | 'x25519'): Promise<{ path: string; entry: object }> {
  const provider = new SoftwareKeyProvider();
  const key = await provider.generateKey(keyId, algorithm);
  const path = join(dir, `${name}.keystore`);
  await saveKeystore(path, provider, PASS, KDF);
  return { path, entry: { principalId: name, keyId, algorithm, publicKey: Buffer.from(key.publicKey!).toString('base64') } };
}

const signers: Record<string, { path: string; entry: object }> = {};
let trustedKeys: string;
let fleet: string;
let otherFleet: string;
beforeAll(async () => {
  for (const id of ['robot', 'planner', 'intruder']) signers[id] = await keystore(id, `${id}-signing`, 'ed25519');
  trustedKeys = join(dir, 'trusted-keys.json');
  writeFileSync(trustedKeys, JSON.stringify(Object.values(signers).map((s) => s.entry)));
  fleet = (await keystore('fleet', 'fleet-sealing', 'x25519')).path;
  otherFleet = (await keystore('other-fleet', 'fleet-sealing', 'x25519')).path;
});

/** Settings of a signing node `id` (its keystore and the fleet's trusted keys). */
const signing = (id: string, level = 'authenticated') => ({
  ECPS_NODE_ID: id,
  ECPS_SECURITY_LEVEL: level,
  ECPS_KEYSTORE: signers[id]!.path,
  ECPS_KEYSTORE_PASSPHRASE: PASS,
  ECPS_TRUSTED_KEYS: trustedKeys,
});

/** Every raw event on the topic, as a node without any trust layer sees it. */
async function eavesdrop(topic: string): Promise<EcpsEvent[]> {
  const seen: EcpsEvent[] = [];
  const spy = memoryTransport({ nodeId: `spy-${topic}`, bus });
  await spy.connect();
  await spy.subscribe(topic, (event) => void seen.push(event));
  return seen;
}

describe('ECPS_SECURITY_LEVEL=encryption', () => {
  it('seals every action under the fleet key: key holders execute it, a peer with another key and an eavesdropper cannot read it', async () => {
    const sealing = (id: string, keystorePath: string) => ({ ECPS_NODE_ID: id, ECPS_SECURITY_LEVEL: 'encryption', ECPS_SEALING_KEYSTORE: keystorePath, ECPS_SEALING_PASSPHRASE: PASS });
    const robot = await start(sealing('sealed-robot', fleet));
    const outsider = await start(sealing('sealed-outsider', otherFleet));
    const planner = await start(sealing('sealed-planner', fleet));
    const executed: unknown[] = [];
    const outsiderSaw: unknown[] = [];
    robot.eap.onAction('gripper', (body) => void executed.push(body.forceLimit));
    outsider.eap.onAction('gripper', (body) => void outsiderSaw.push(body.forceLimit));
    const wire = await eavesdrop('eap');

    const outcome = await planner.eap.send('gripper', { command: 'CLOSE', forceLimit: 0.25 }, { snapshot });
    expect(outcome.result).toBeDefined(); // the robot's (sealed) result reached the planner
    expect(executed).toEqual([0.25]);
    await sleep(50);
    expect(outsiderSaw).toEqual([]);
    expect(wire).toHaveLength(1);
    expect(wire[0]!.type).toBe(SEALED_EVENT_TYPE);
    expect(Buffer.from(wire[0]!.data).includes(outcome.action.id)).toBe(false);
    expect(Buffer.from(wire[0]!.data).includes(Buffer.from(outcome.action.stateSha))).toBe(false);
    expect(robot.effectiveConfig.trust).toEqual({ level: 'encryption', sealed: true, keys: 'none', hardware: 'off' });
    expect(robot.effectiveConfig.settings.security.sealingPassphrase).toBe('<redacted>');
    expect(robot.trustLevel).toBe(1);
  });
});

describe('ECPS_SEALING_KEYSTORE at authenticated', () => {
  it('signs and seals: the action is executed, the wire shows only a sealed envelope', async () => {
    const sealing = { ECPS_SEALING_KEYSTORE: fleet, ECPS_SEALING_PASSPHRASE: PASS };
    const robot = await start({ ...signing('robot'), ...sealing });
    const planner = await start({ ...signing('planner'), ...sealing });
    const executed: unknown[] = [];
    robot.eap.onAction('gripper', (body) => void executed.push(body.forceLimit));
    const wire = await eavesdrop('eap');
    const outcome = await planner.eap.send('gripper', { command: 'CLOSE', forceLimit: 0.5 }, { snapshot });
    expect(executed).toEqual([0.5]);
    expect(wire.map((e) => e.type)).toEqual([SEALED_EVENT_TYPE]);
    expect(Buffer.from(wire[0]!.data).includes(outcome.action.id)).toBe(false);
    expect(robot.effectiveConfig.trust).toEqual({ level: 'authenticated', sealed: true, keys: 'keystore', hardware: 'off' });
    await robot.close();
    await planner.close();
  });
});

describe.each(['authorized', 'audited'] as const)('ECPS_SECURITY_LEVEL=%s', (level) => {
  it(`executes the action of a principal the ECPS_PRINCIPALS policy allows and refuses a signed but unauthorized one${level === 'audited' ? ', with an audit record for each decision' : ''}`, async () => {
    const policy = join(dir, `policy-${level}.yaml`);
    writeFileSync(
      policy,
      [
        'roles:',
        '  eap_sender: { "publish:eap": true }',
        'principals:',
        '  - { id: planner, kind: service, roles: [eap_sender] }',
        '  - { id: intruder, kind: service, roles: [robot_operator] }',
        '',
      ].join('\n'),
    );
    const auditLog = join(dir, `audit-${level}.jsonl`);
    const robot = await start({ ...signing('robot', level), ECPS_PRINCIPALS: policy, ...(level === 'audited' ? { ECPS_AUDIT_LOG: auditLog } : {}) });
    const planner = await start(signing('planner'));
    const intruder = await start(signing('intruder'));
    const executed: unknown[] = [];
    robot.eap.onAction('gripper', (body) => void executed.push(body.forceLimit));
    const wire = await eavesdrop('eap');

    await intruder.eap.send('gripper', { command: 'OPEN', forceLimit: 0.9 }, { snapshot, awaitResult: false });
    const outcome = await planner.eap.send('gripper', { command: 'CLOSE', forceLimit: 0.25 }, { snapshot });
    expect(outcome.result).toBeDefined();
    await sleep(50);
    expect(executed).toEqual([0.25]);
    // signed, not sealed (no ECPS_SEALING_KEYSTORE): the action is readable on the wire, unlike at `encryption`
    expect(Buffer.from(wire.at(-1)!.data).includes(outcome.action.id)).toBe(true);
    expect(robot.trustLevel).toBe(level === 'audited' ? 4 : 3);
    expect(robot.effectiveConfig.trust).toEqual({ level, sealed: false, keys: 'keystore', hardware: 'off' });

    await robot.close(); // closes the audit log
    if (level === 'audited') {
      const records = readFileSync(auditLog, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEvent);
      const onEap = records.filter((r) => r.resource === 'eap');
      expect(onEap).toEqual([
        expect.objectContaining({ node: 'robot', principal: 'intruder', action: 'publish', allowed: false, reason: 'PERMISSION_DENIED' }),
        expect.objectContaining({ node: 'robot', principal: 'planner', action: 'publish', allowed: true }),
      ]);
    }
  });
});

describe('a level whose prerequisites are missing or unusable is a ConfigError naming the setting', () => {
  const files = () => ({
    policy: join(dir, 'policy.json'),
    badKind: join(dir, 'policy-bad-kind.json'),
    badPermission: join(dir, 'policy-bad-permission.json'),
  });
  beforeAll(() => {
    const f = files();
    writeFileSync(f.policy, JSON.stringify({ principals: [{ id: 'planner', kind: 'service', roles: [] }] }));
    writeFileSync(f.badKind, JSON.stringify({ principals: [{ id: 'planner', kind: 'cat', roles: [] }] }));
    writeFileSync(f.badPermission, JSON.stringify({ principals: [{ id: 'planner', kind: 'service', roles: [], permissions: { publish: true } }] }));
  });
  const sealed = (keystorePath: string, extra: Record<string, string> = {}) => ({ ECPS_NODE_ID: 'n', ECPS_SECURITY_LEVEL: 'encryption', ECPS_SEALING_KEYSTORE: keystorePath, ECPS_SEALING_PASSPHRASE: PASS, ...extra });
  const cases: Array<[string, () => Record<string, string>, string, RegExp]> = [
    ['encryption without a sealing keystore', () => ({ ECPS_NODE_ID: 'n', ECPS_SECURITY_LEVEL: 'encryption' }), 'ECPS_SEALING_KEYSTORE', /needs the fleet sealing key/],
    ['a sealing keystore without its passphrase', () => ({ ECPS_NODE_ID: 'n', ECPS_SECURITY_LEVEL: 'encryption', ECPS_SEALING_KEYSTORE: fleet }), 'ECPS_SEALING_PASSPHRASE', /required/],
    ['a wrong sealing passphrase', () => sealed(fleet, { ECPS_SEALING_PASSPHRASE: 'wrong' }), 'ECPS_SEALING_KEYSTORE', /keystore/],
    ['a sealing keystore that does not exist', () => sealed(join(dir, 'absent.keystore')), 'ECPS_SEALING_KEYSTORE', /cannot read keystore/],
    ['a sealing key id not in the keystore', () => sealed(fleet, { ECPS_SEALING_KEY_ID: 'fleet-2027' }), 'ECPS_SEALING_KEY_ID', /no key fleet-2027/],
    ['a signing key as the sealing key', () => sealed(signers['robot']!.path, { ECPS_SEALING_KEY_ID: 'robot-signing' }), 'ECPS_SEALING_KEY_ID', /ed25519; sealing needs x25519 or ecdsa-p256/],
    ['authorized without a policy', () => signing('robot', 'authorized'), 'ECPS_PRINCIPALS', /needs the RBAC policy file/],
    ['a policy with an unknown principal kind', () => ({ ...signing('robot', 'authorized'), ECPS_PRINCIPALS: files().badKind }), 'ECPS_PRINCIPALS', /principal 0 needs id, kind/],
    ['a policy with a malformed permission', () => ({ ...signing('robot', 'authorized'), ECPS_PRINCIPALS: files().badPermission }), 'ECPS_PRINCIPALS', /is not action:resource/],
    ['audited without an audit log', () => ({ ...signing('robot', 'audited'), ECPS_PRINCIPALS: files().policy }), 'ECPS_AUDIT_LOG', /needs the file audit records go to/],
    ['an audit log that cannot be opened', () => ({ ...signing('robot', 'audited'), ECPS_PRINCIPALS: files().policy, ECPS_AUDIT_LOG: join(dir, 'no-such-dir', 'audit.jsonl') }), 'ECPS_AUDIT_LOG', /cannot open audit log/],
  ];
  it.each(cases)('%s', async (_name, env, setting, why) => {
    const error = await start(env()).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', details: { setting } });
    expect((error as Error).message).toMatch(why);
    expect(JSON.stringify((error as { details: unknown }).details)).not.toContain(PASS);
  });
});
