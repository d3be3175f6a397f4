// SPDX-License-Identifier: Apache-2.0
// A formation plan on the wire: `FormationCommand` of coordination.proto.
import { ValidationError } from '@ecps/core';
import { FormationCommand } from '@ecps/proto/ext/v1';
import { FORMATION_SHAPES } from './formations';
import type { FormationShape, Vec3 } from './formations';

/** CloudEvents type of a formation command. */
export const FORMATION_EVENT_TYPE = 'ecps.ext.swarm.formation';

export interface FormationPlan {
  readonly formationId: string;
  readonly shape: FormationShape;
  readonly center: Vec3;
  readonly spacing: number;
  readonly headingRad: number;
  readonly targets: ReadonlyMap<string, Vec3>;
}

export function encodeFormationCommand(plan: FormationPlan): Uint8Array {
  return FormationCommand.encode({
    formationId: plan.formationId,
    shape: plan.shape,
    center: plan.center,
    spacing: plan.spacing,
    headingRad: plan.headingRad,
    targets: Object.fromEntries(plan.targets),
  }).finish();
}

/** @throws ValidationError `DECODE_ERROR` for bytes that are not a formation command or name an unknown shape. */
export function decodeFormationCommand(bytes: Uint8Array): FormationPlan {
  let c: FormationCommand;
  try {
    c = FormationCommand.decode(bytes);
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', 'not a FormationCommand', { cause });
  }
  if (!FORMATION_SHAPES.includes(c.shape as FormationShape)) throw new ValidationError('DECODE_ERROR', `unknown formation '${c.shape}'`);
  return {
    formationId: c.formationId,
    shape: c.shape as FormationShape,
    center: c.center ?? { x: 0, y: 0, z: 0 },
    spacing: c.spacing,
    headingRad: c.headingRad,
    targets: new Map(Object.entries(c.targets)),
  };
}
