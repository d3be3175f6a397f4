// SPDX-License-Identifier: Apache-2.0
// Trust: the controller and the robot sign and seal every message (AUTHORIZED: the robot also checks the sender's
// role); an intruder, with its own key or with none, forges a gripper action and is rejected.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { encodeEvent } from '@ecps/serialization';
import { GripperOp_GripperCommand, type EAP } from '@ecps/proto';
import { KeyDirectory, Rbac, SoftwareKeyProvider, softwareTrust, type SoftwareTrustOptions } from '@ecps/trust';
import type { DemoStep } from '../step';

/** Why the robot drops a message, in words. */
const REJECTIONS: Record<string, string> = {
  KEY_NOT_FOUND: 'the forged action is dropped: its signing key was never enrolled in the fleet',
  UNAUTHENTICATED: 'the unsigned action is dropped: at level AUTHORIZED only signed, sealed messages count',
};

const step: DemoStep = {
  title: 'Trust: signed and sealed messages, RBAC, and an intruder whose forged action is rejected',
  async run(ctx) {
    const dir = ctx.tempDir('trust');
    const rejected: string[] = [];
    const fleetKeys = new KeyDirectory();
    const fleet = new SoftwareKeyProvider();
    const fleetKey = await fleet.generateKey('fleet-2026', 'x25519');
    const sealing = { recipient: { keyId: 'fleet-2026', algorithm: 'x25519' as const, publicKey: fleetKey.publicKey! }, provider: fleet };
    const principals = new Rbac({ principals: [{ id: 'controller', kind: 'service', roles: ['robot_operator'] }] });
    const common = (id: string, keys: KeyDirectory): SoftwareTrustOptions => ({
      level: 'authorized',
      keys,
      keyFile: join(dir, `${id}.key`),
      passphrase: `demo passphrase of ${id}`,
      sealing,
      principals,
      // an EAP gripper action needs grip:gripper (robot_operator has it)
      permissionFor: (m) => (m.target === 'trusted/eap' ? { action: 'grip', resource: 'gripper' } : { action: 'publish', resource: m.target }),
      onReject: (error) => {
        rejected.push(error.code);
        ctx.refused('robot-arm', `${REJECTIONS[error.code] ?? 'a message is dropped'} (${error.code})`);
      },
    });
    const controller = await ctx.createNode('controller', { trust: softwareTrust(common('controller', fleetKeys)) });
    const robot = await ctx.createNode('robot-arm', { trust: softwareTrust(common('robot-arm', fleetKeys)) });
    // The intruder runs the same software with its own key, which the fleet never enrolled.
    const intruder = await ctx.createNode('intruder', { trust: softwareTrust(common('intruder', new KeyDirectory())) });
    ctx.log(`controller, robot-arm: level AUTHORIZED (signed Ed25519 + sealed X25519/AES-256-GCM, keys in encrypted keystores)`);

    // Its own topic, so the unprotected nodes of earlier steps do not hear the intruder's raw message.
    const topic = 'trusted/eap';
    const executed: string[] = [];
    await robot.subscribe('EAP', topic, (action, event) => {
      executed.push(action.id);
      ctx.log(`robot-arm  ← executes ${action.id.slice(0, 8)}… from ${event.source} (signature, replay window and role checked)`);
    });
    const action = (position: number): EAP => ({
      spec: 'eap/0.1',
      id: crypto.randomUUID(),
      stateSha: createHash('sha256').update('frame 42').digest(),
      body: { $case: 'gripper', value: { command: GripperOp_GripperCommand.OPEN, position, forceLimit: 15 } },
      meta: {},
    });
    const legit = action(0.2);
    ctx.log(`controller → gripper OPEN ${legit.id.slice(0, 8)}…`);
    await controller.publish('EAP', topic, legit);
    const forged = action(1);
    ctx.log(`intruder   → forged gripper OPEN ${forged.id.slice(0, 8)}… signed with an unenrolled key`);
    await intruder.publish('EAP', topic, forged);
    const spoofed = action(1);
    ctx.log(`intruder   → unsigned gripper OPEN ${spoofed.id.slice(0, 8)}… claiming to be urn:ecps:controller`);
    const raw = ctx.transportFor('intruder-raw');
    await raw.connect();
    await raw.publish(topic, encodeEvent('EAP', spoofed, { source: 'urn:ecps:controller' }));
    const deadline = Date.now() + 5000;
    while ((executed.length < 1 || rejected.length < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    if (executed.length !== 1 || executed[0] !== legit.id) throw new Error(`expected only the controller's action, executed ${executed.join(', ')}`);
    if (!rejected.includes('KEY_NOT_FOUND') || !rejected.includes('UNAUTHENTICATED')) throw new Error(`the intruder's actions were not both rejected (${rejected.join(', ')})`);
    ctx.held('robot-arm', `executed 1 of 3 actions: only the controller's`);
  },
};

export default step;
