// SPDX-License-Identifier: Apache-2.0
// Fuzz target: EAP action decoding on the receiving side (decodeAction, the gate before any handler). Any input is
// either refused with a typed EcpsError or yields an action that satisfies every range rule, checked here
// independently of the builders, and survives an encode/decode round trip unchanged. Regression inputs:
// fuzz/eap-action/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import type { EAP, RobotPose } from '@ecps/proto';
import { vectorsDir } from '@ecps/testkit';
import { FuzzInvariantError, loadCorpus, runFuzzTarget } from '@ecps/testkit/fuzz';
import { buildAction, decodeAction, encodeAction } from './index';

const corpusDir = join(import.meta.dirname, '..', 'fuzz', 'eap-action');
const snapshot = new TextEncoder().encode('frame');

function seeds(): Uint8Array[] {
  const vector = (name: string): Uint8Array => new Uint8Array(readFileSync(join(vectorsDir(), name)));
  const pose = { x: 0.3, y: -0.1, z: 0.05, qw: 0.7071, qz: 0.7071, frame_id: 'base_link', timestamp_ns: 17n };
  return [
    vector('eap_set_pose.bin'),
    vector('eap_gripper.bin'),
    encodeAction(buildAction('cloud', { api_name: 'maps', method_name: 'route', json_payload: { to: 'dock' } }, { snapshot })),
    encodeAction(buildAction('sim', { duration_s: 0.5, physics_steps: 10, render_frame: true }, { snapshot })),
    encodeAction(buildAction('navigate', { target_pose: pose, max_velocity: 0.5, tolerance: 0.1, planner_id: 'nav2' }, { snapshot })),
    encodeAction(buildAction('manipulate', { type: 'PICK', target_pose: pose, object_id: 'cup', approach_distance: 0.1, force_threshold: 5 }, { snapshot })),
    ...loadCorpus(corpusDir),
  ];
}

const fail = (what: string): never => {
  throw new FuzzInvariantError(what);
};
const finite = (name: string, ...values: number[]): void => {
  if (!values.every(Number.isFinite)) fail(`${name}: not finite`);
};
const atLeast0 = (name: string, value: number): void => {
  finite(name, value);
  if (value < 0) fail(`${name} < 0`);
};
function checkPose(name: string, p: RobotPose | undefined, required: boolean): void {
  if (!p) return void (required && fail(`${name} missing`));
  finite(name, p.x, p.y, p.z, p.qw, p.qx, p.qy, p.qz);
  if (Math.abs(Math.hypot(p.qw, p.qx, p.qy, p.qz) - 1) > 1e-3) fail(`${name}: quaternion not unit length`);
}

/** The receive rules, written out again without the builders. */
function checkAccepted(a: EAP): void {
  const body = a.body ?? fail('no body');
  switch (body.$case) {
    case 'setPose':
      return checkPose('set_pose', body.value, true);
    case 'gripper':
      if (![1, 2, 3].includes(body.value.command)) fail('gripper command');
      atLeast0('gripper position', body.value.position);
      if (body.value.position > 1) fail('gripper position > 1');
      return atLeast0('gripper force', body.value.forceLimit);
    case 'cloud':
      if (!body.value.apiName || !body.value.methodName) fail('cloud names');
      if (body.value.jsonPayload.length > 0) JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body.value.jsonPayload));
      return;
    case 'sim':
      atLeast0('sim duration', body.value.durationS);
      if (!Number.isInteger(body.value.physicsSteps)) fail('sim steps');
      return;
    case 'navigate':
      checkPose('navigate target', body.value.targetPose, true);
      atLeast0('navigate speed', body.value.maxVelocity);
      return atLeast0('navigate tolerance', body.value.tolerance);
    case 'manipulate':
      if (![1, 2, 3, 4, 5].includes(body.value.type)) fail('manipulate type');
      checkPose('manipulate target', body.value.targetPose, false);
      atLeast0('approach distance', body.value.approachDistance);
      return atLeast0('force threshold', body.value.forceThreshold);
  }
}

function run(input: Uint8Array): void {
  const action = decodeAction(input); // a typed refusal ends the run; the harness checks it is typed
  try {
    checkAccepted(action);
  } catch (error) {
    if (error instanceof FuzzInvariantError) throw error;
    fail(`accepted an invalid action: ${String(error)}`);
  }
  const again = decodeAction(encodeAction(action));
  if (JSON.stringify(again, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) !== JSON.stringify(action, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) {
    fail('round trip changed the action');
  }
}

describe('fuzz: EAP actions on the receiving side', () => {
  it('no untyped exception; every accepted action is within range', async () => {
    const report = await runFuzzTarget({ name: 'eap-action', seeds: seeds(), run, isExpected: (e) => isEcpsError(e), maxLength: 512 });
    process.stderr.write(`fuzz eap-action: ${report.iterations} iterations, ${report.crashes} crashes, ${report.untypedExceptions} untyped\n`);
    expect(report.failure).toBeUndefined();
    expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
  }, 60_000);

  it('every regression input in fuzz/eap-action is refused with INVALID_ARGUMENT', () => {
    const corpus = loadCorpus(corpusDir);
    expect(corpus.length).toBeGreaterThanOrEqual(6);
    for (const input of corpus) expect(() => decodeAction(input)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
