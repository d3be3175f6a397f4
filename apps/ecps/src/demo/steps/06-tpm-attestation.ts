// SPDX-License-Identifier: Apache-2.0
// TPM attestation: a robot measures its boot chain into its TPM (swtpm) and signs with a key that never leaves it;
// the controller rejects the robot's actions until a fresh quote of its boot state verifies against the enrolled
// attestation key and the expected boot chain. A second robot booted a patched image and is refused.
import { createHash } from 'node:crypto';
import { GripperOp_GripperCommand, type EAP } from '@ecps/proto';
import { KeyDirectory, SoftwareKeyProvider, softwareTrust } from '@ecps/trust';
import {
  AttestationGate,
  TpmKeyProvider,
  bootPolicy,
  enrollAttestationKey,
  measurementDigest,
  serveAttestation,
  streamTransport,
  type AttestedDevice,
} from '@ecps/trust-tpm';
import { startSoftwareTpm, swtpmInstalled, type SoftwareTpm } from '../software-tpm';
import type { DemoStep } from '../step';

const BOOT_CHAIN = [
  { name: 'firmware', pcr: 0, data: 'firmware 2.1' },
  { name: 'bootloader', pcr: 4, data: 'bootloader 1.4' },
  { name: 'image', pcr: 8, data: 'robot image 7.3.0' },
  { name: 'config', pcr: 9, data: 'gripper_force=40' },
] as const;
const TOPIC = 'attested/eap';

/** The step, with the swtpm binary to use (default `swtpm` on PATH). */
export function tpmAttestationStep(swtpm = 'swtpm'): DemoStep {
  return {
    title: 'TPM attestation: a robot proves its boot state with a TPM quote before the controller accepts its actions',
    async run(ctx) {
      if (!swtpmInstalled(swtpm)) {
        ctx.log('swtpm is not installed, so this step is skipped: apt-get install swtpm (Debian/Ubuntu), then run the demo again');
        return;
      }
      const swtpms: SoftwareTpm[] = [];
      const tpms: TpmKeyProvider[] = [];
      try {
        const keys = new KeyDirectory();
        // the controller's refusals, reported once the step has checked they happened
        const rejections: string[] = [];
        const refusedNext = async (who: string) => {
          await waitUntil(() => rejections.length > 0, 5000, `the controller to refuse ${who}'s action`);
          ctx.refused('controller', rejections.shift()!);
        };
        const devices = new Map<string, AttestedDevice>();
        const policy = bootPolicy(BOOT_CHAIN.map(({ name, pcr, data }) => ({ name, pcr, digest: measurementDigest(data) })));
        const gate = new AttestationGate({ nodeId: 'fleet-controller', devices, admissionTtlMs: 10 * 60_000 });
        const controllerKey = new SoftwareKeyProvider();
        await controllerKey.generateKey('fleet-controller-signing', 'ed25519');
        const controller = await ctx.createNode('fleet-controller', {
          trust: softwareTrust({
            level: 'authenticated',
            keys,
            provider: controllerKey,
            confidentiality: false,
            admit: gate.admit,
            onReject: (error) => rejections.push(`rejected ${error.code} (${String(error.details?.['reason'] ?? '')}): ${error.message}`),
          }),
        });
        const executed: string[] = [];
        await controller.subscribe('EAP', TOPIC, (action, event) => {
          executed.push(action.id);
          ctx.log(`controller ← accepted ${action.id.slice(0, 8)}… from ${event.source}`);
        });

        const robot = async (id: string, image: string) => {
          const software = startSoftwareTpm(swtpm);
          swtpms.push(software);
          const tpm = await TpmKeyProvider.open({ transport: streamTransport(software.stream) });
          tpms.push(tpm);
          for (const stage of BOOT_CHAIN) await tpm.measure(stage.name, stage.pcr, stage.name === 'image' ? image : stage.data);
          await tpm.generateKey(`${id}-signing`, 'ecdsa-p256');
          // Provisioning: the fleet enrols the robot's attestation key and its expected boot chain.
          devices.set(id, { ak: enrollAttestationKey((await tpm.attestationKey()).publicArea), policy });
          const node = await ctx.createNode(id, { trust: softwareTrust({ level: 'authenticated', keys, provider: tpm, confidentiality: false }) });
          await serveAttestation(node.transport, { nodeId: id, provider: tpm });
          ctx.log(`${id.padEnd(10)} booted "${image}": 4 stages measured into PCRs 0, 4, 8, 9 of its TPM; signing key ECDSA P-256 inside the TPM`);
          return node;
        };

        const arm = await robot('arm-tpm', 'robot image 7.3.0');
        const first = gripperAction(0.2);
        ctx.log(`arm-tpm    → gripper OPEN ${first.id.slice(0, 8)}… before attesting`);
        await arm.publish('EAP', TOPIC, first);
        await refusedNext('arm-tpm');

        const quote = await gate.attest(controller.transport, 'arm-tpm');
        ctx.held('controller', `quote verified: nonce, AK signature, PCRs ${Object.keys(quote.pcrs).join(', ')}, boot chain ${quote.log.map((m) => m.name).join(' → ')}`);
        const second = gripperAction(0.4);
        ctx.log(`arm-tpm    → gripper OPEN ${second.id.slice(0, 8)}… after attesting`);
        await arm.publish('EAP', TOPIC, second);
        await waitUntil(() => executed.includes(second.id), 5000, 'the attested action to be accepted');

        const rogue = await robot('arm-rogue', 'robot image 7.3.0-patched');
        await gate.attest(controller.transport, 'arm-rogue').then(
          () => {
            throw new Error('the patched robot was admitted');
          },
          (error: { code?: string; details?: Record<string, unknown> }) =>
            ctx.refused('controller', `arm-rogue refused: ${error.code} (${String(error.details?.['reason'])}), first mismatching measurement: ${String(error.details?.['measurement'])}`),
        );
        await rogue.publish('EAP', TOPIC, gripperAction(1));
        await refusedNext('arm-rogue');
        await settle(); // nothing else may arrive
        if (executed.length !== 1 || executed[0] !== second.id) throw new Error(`expected only the attested action, accepted ${executed.join(', ')}`);
        ctx.held('controller', 'accepted 1 of 3 actions: the one sent after a verified quote');
      } finally {
        for (const tpm of tpms) await tpm.close().catch(() => undefined);
        for (const software of swtpms) await software.stop();
      }
    },
  };
}

function gripperAction(position: number): EAP {
  return {
    spec: 'eap/0.1',
    id: crypto.randomUUID(),
    stateSha: createHash('sha256').update('frame 42').digest(),
    body: { $case: 'gripper', value: { command: GripperOp_GripperCommand.OPEN, position, forceLimit: 15 } },
    meta: {},
  };
}

const settle = () => new Promise((r) => setTimeout(r, 200));

async function waitUntil(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}


export default tpmAttestationStep();
