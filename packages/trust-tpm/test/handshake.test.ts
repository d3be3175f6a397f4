// SPDX-License-Identifier: Apache-2.0
// The attestation handshake end to end: robots whose identity keys live in their TPMs (swtpm), a controller whose
// secure transport admits a robot's actions only after a fresh quote of its boot state verified.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { ManualClock, nodeSource, type EcpsEvent } from '@ecps/core';
import { testEvent, waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { IdentitySigner, KeyDirectory, SoftwareKeyProvider, secureTransport, type SecureTransport, type TrustError } from '@ecps/trust';
import { AttestationGate, serveAttestation, type AttestedDevice } from '../src/handshake';
import { bootPolicy, measurementDigest } from '../src/measured-boot';
import type { TpmKeyProvider } from '../src/tpm-key-provider';
import { enrollAttestationKey } from '../src/verifier';
import { describeTpm, openProvider, startSwtpm, type SwtpmHandle } from './swtpm-fixture';

const stages = [
  ['firmware', 0, 'firmware 2.1'],
  ['bootloader', 4, 'bootloader 1.4'],
  ['image', 8, 'robot image 7.3.0'],
  ['config', 9, 'gripper_force=40'],
] as const;
const policy = bootPolicy(stages.map(([name, pcr, data]) => ({ name, pcr, digest: measurementDigest(data) })));

describeTpm('attestation handshake: the controller admits a robot only after a verified quote', () => {
  const bus = new MemoryBus();
  const keys = new KeyDirectory();
  const devices = new Map<string, AttestedDevice>();
  const gateClock = new ManualClock(Date.now());
  const gate = new AttestationGate({ nodeId: 'controller', devices, clock: gateClock, admissionTtlMs: 60_000 });
  const rejects: TrustError[] = [];
  const seen: EcpsEvent[] = [];
  const swtpms: SwtpmHandle[] = [];
  const tpms: TpmKeyProvider[] = [];
  const transports: SecureTransport[] = [];
  let controller: SecureTransport;

  async function robot(id: string, image: string): Promise<SecureTransport> {
    const swtpm = await startSwtpm();
    swtpms.push(swtpm);
    const tpm = await openProvider(swtpm);
    tpms.push(tpm);
    for (const [name, pcr, data] of stages) await tpm.measure(name, pcr, name === 'image' ? image : data);
    await tpm.generateKey(`${id}-identity`, 'ecdsa-p256'); // its message-signing key lives in the TPM too
    const identity = { id, keyId: `${id}-identity`, provider: tpm };
    keys.add(await new IdentitySigner(identity).trustedKey());
    devices.set(id, { ak: enrollAttestationKey((await tpm.attestationKey()).publicArea), policy });
    const t = secureTransport(memoryTransport({ nodeId: id, bus }), { identity, keys, level: 'authenticated', confidentiality: false });
    await t.connect();
    transports.push(t);
    await serveAttestation(t, { nodeId: id, provider: tpm });
    return t;
  }

  beforeAll(async () => {
    const software = new SoftwareKeyProvider();
    await software.generateKey('controller-k', 'ed25519');
    const identity = { id: 'controller', keyId: 'controller-k', provider: software };
    keys.add(await new IdentitySigner(identity).trustedKey());
    controller = secureTransport(memoryTransport({ nodeId: 'controller', bus }), {
      identity,
      keys,
      level: 'authenticated',
      confidentiality: false,
      admit: gate.admit,
      onReject: (e) => rejects.push(e),
    });
    await controller.connect();
    transports.push(controller);
    await controller.subscribe('eap', (e) => void seen.push(e));
  });
  afterAll(async () => {
    for (const t of transports) await t.close();
    for (const t of tpms) await t.close();
    for (const s of swtpms) await s.stop();
  });

  const action = (id: string) => testEvent(nodeSource(id), 16, { type: 'ecps.eap.action' });

  it('rejects actions before the quote, accepts them after it, and again rejects them once the admission expires', async () => {
    const arm = await robot('arm-1', 'robot image 7.3.0');
    await arm.publish('eap', action('arm-1'));
    await waitFor(() => rejects.length === 1, 'rejection before attestation');
    expect(rejects[0]).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'not-admitted', principal: 'arm-1' } });

    const quote = await gate.attest(controller, 'arm-1');
    expect(quote.log.map((m) => m.name)).toEqual(['firmware', 'bootloader', 'image', 'config']);
    await arm.publish('eap', action('arm-1'));
    await waitFor(() => seen.length === 1, 'action accepted after attestation');
    expect(seen[0]!.source).toBe('urn:ecps:arm-1');

    gateClock.advance(60_001);
    await arm.publish('eap', action('arm-1'));
    await waitFor(() => rejects.length === 2, 'rejection after the admission expired');
    expect(seen).toHaveLength(1);
  });

  it('refuses a robot that booted a patched image, naming the image, and keeps rejecting its actions', async () => {
    const rogue = await robot('arm-2', 'robot image 7.3.0-patched');
    await expect(gate.attest(controller, 'arm-2')).rejects.toMatchObject({
      code: 'ATTESTATION_FAILED',
      details: expect.objectContaining({ reason: 'measurement', measurement: 'image' }),
    });
    const before = rejects.length;
    await rogue.publish('eap', action('arm-2'));
    await waitFor(() => rejects.length === before + 1, 'rejection of the rogue robot');
    expect(gate.isAdmitted('arm-2')).toBe(false);
    expect(seen.every((e) => e.source !== 'urn:ecps:arm-2')).toBe(true);
  });
});
