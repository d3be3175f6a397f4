// SPDX-License-Identifier: Apache-2.0
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { vectorsDir } from '@ecps/testkit';
import { EAP, GripperOp_GripperCommand, ManipulateOp_ManipulationType } from '@ecps/proto';
import { buildAction, buildActionBody, decodeAction, encodeAction, ltpSnapshot, resolveStateSha } from './index';

const snapshot = new TextEncoder().encode('mock_perceptual_state_data');
const vector = (name: string): Uint8Array => new Uint8Array(readFileSync(join(vectorsDir(), name)));

describe('builders (spec §5.1)', () => {
  it('reproduce eap_set_pose.bin and eap_gripper.bin (decoded equal)', () => {
    const pose = buildAction(
      'set_pose',
      { x: 1.5, y: 2.0, qw: 0.707, qz: 0.707, frame_id: 'map', timestamp_ns: '1640995200000000000' },
      { id: 'test-eap-001', snapshot, stopOnFail: true },
    );
    const expected = EAP.decode(vector('eap_set_pose.bin'));
    expect({ ...pose, meta: { safety: pose.meta.safety } }).toEqual(expected);
    expect(pose.meta.action_type).toBe('set_pose');
    const gripper = buildAction('gripper', { command: 'CLOSE', position: 0.1, forceLimit: 15 }, { id: 'test-eap-002', stateSha: expected.stateSha });
    const expectedGripper = EAP.decode(vector('eap_gripper.bin'));
    const decoded = EAP.decode(encodeAction(gripper)); // float32 round trip, as on the wire
    expect({ ...decoded, meta: {} }).toEqual(expectedGripper);
  });

  it('accepts enum names or numbers and both field spellings', () => {
    expect(buildActionBody('gripper', { command: 2 }).command).toBe(GripperOp_GripperCommand.CLOSE);
    expect(buildActionBody('gripper', { command: 'GRIP', force_limit: 3 }).forceLimit).toBe(3);
    expect(buildActionBody('manipulate', { type: 'PICK_AND_PLACE', object_id: 'cup', target_pose: { x: 1 } })).toMatchObject({
      type: ManipulateOp_ManipulationType.PICK_AND_PLACE,
      objectId: 'cup',
      targetPose: { x: 1, qw: 1 },
    });
    expect(buildActionBody('cloud', { api_name: 'maps', methodName: 'route', jsonPayload: { to: 'dock' }, requires_oauth2: true }).jsonPayload).toEqual(
      new TextEncoder().encode('{"to":"dock"}'),
    );
    expect(buildActionBody('sim', { duration_s: 0.5, physics_steps: 10, render_frame: true })).toEqual({ durationS: 0.5, physicsSteps: 10, renderFrame: true });
    expect(buildActionBody('navigate', { targetPose: { x: 3, frameId: 'map' }, maxVelocity: 0.5, tolerance: 0.1, planner_id: 'nav2' }).plannerId).toBe('nav2');
  });

  it.each([
    ['set_pose', { x: 1, colour: 'red' }, /unknown field/],
    ['set_pose', { qw: 0.5 }, /unit length/],
    ['set_pose', { x: Number.NaN }, /finite/],
    ['set_pose', { timestamp_ns: -1 }, /uint64 range/],
    ['gripper', { position: 0.5 }, /command: is required/],
    ['gripper', { command: 'SQUEEZE' }, /one of OPEN, CLOSE, GRIP/],
    ['gripper', { command: 'OPEN', position: 1.5 }, /<= 1/],
    ['gripper', { command: 'OPEN', forceLimit: -1 }, />= 0/],
    ['gripper', { command: 'OPEN', force_limit: 1, forceLimit: 1 }, /given twice/],
    ['cloud', { api_name: 'x' }, /methodName: is required/],
    ['cloud', { api_name: 'x', method_name: 'y', json_payload: '{nope' }, /valid UTF-8 JSON/],
    ['sim', { physics_steps: 1.5 }, /integer/],
    ['navigate', { maxVelocity: 1 }, /targetPose: is required/],
    ['navigate', { target_pose: {}, max_velocity: 0 }, /> 0/],
    ['manipulate', { type: 'THROW' }, /one of PICK/],
  ] as const)('%s %j is rejected', (type, data, message) => {
    expect(() => buildActionBody(type, data as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) }));
  });
});

describe('state_sha (spec §5.2)', () => {
  it('hashes the snapshot with SHA-256, or takes a ready digest', () => {
    const digest = resolveStateSha({ snapshot });
    expect(Buffer.from(digest).toString('hex')).toBe('cdfc239d6493abdc82fd24b5d81863c4432351abcfe990314742720de3592397');
    expect(resolveStateSha({ stateSha: digest })).toBe(digest);
    const custom = resolveStateSha({ snapshot, hasher: (b) => new Uint8Array(createHash('sha3-256').update(b).digest()) });
    expect(custom).toHaveLength(32);
  });

  it('never invents one: MISSING_STATE_SHA without input, INVALID_STATE_SHA for a wrong length', () => {
    expect(() => buildAction('sim', {}, {})).toThrow(expect.objectContaining({ code: 'MISSING_STATE_SHA' }));
    expect(() => resolveStateSha({ stateSha: new Uint8Array(16) })).toThrow(expect.objectContaining({ code: 'INVALID_STATE_SHA' }));
    expect(() => resolveStateSha({ snapshot, hasher: () => new Uint8Array(20) })).toThrow(expect.objectContaining({ code: 'INVALID_STATE_SHA' }));
    expect(() => resolveStateSha({ snapshot, stateSha: new Uint8Array(32) })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('ltpSnapshot frames each message as u32le(len) ‖ bytes', () => {
    expect(ltpSnapshot([Uint8Array.of(1, 2), Uint8Array.of(3)])).toEqual(Uint8Array.of(2, 0, 0, 0, 1, 2, 1, 0, 0, 0, 3));
  });
});

describe('decodeAction', () => {
  it('accepts a higher minor, rejects a wrong major, a short digest, a missing body', () => {
    const base = buildAction('sim', { duration_s: 1 }, { snapshot });
    expect(decodeAction(encodeAction({ ...base, spec: 'eap/0.4' })).spec).toBe('eap/0.4');
    expect(() => decodeAction(encodeAction({ ...base, spec: 'eap/1.0' }))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }));
    expect(() => decodeAction(encodeAction({ ...base, stateSha: new Uint8Array(3) }))).toThrow(expect.objectContaining({ code: 'INVALID_STATE_SHA' }));
    expect(() => decodeAction(encodeAction({ ...base, body: undefined }))).toThrow(expect.objectContaining({ code: 'MISSING_ACTION_BODY' }));
    expect(() => decodeAction(Uint8Array.of(0xff, 0xff))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
});
