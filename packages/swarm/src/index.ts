// SPDX-License-Identifier: Apache-2.0
// @ecps/swarm: formation geometry, optimal slot assignment, formation commands and flocking. Pure functions.

export { formationSlots, distance, FORMATION_SHAPES } from './formations';
export { hungarian } from './hungarian';
export { assignSlots, planFormation } from './slot-assignment';
export { flockingVelocity, DEFAULT_FLOCKING } from './flocking';
export { encodeFormationCommand, decodeFormationCommand, FORMATION_EVENT_TYPE } from './formation-command';

export type { Vec3, FormationShape, FormationOptions } from './formations';
export type { AgentPosition, SlotAssignment } from './slot-assignment';
export type { FlockingParameters, Boid } from './flocking';
export type { FormationPlan } from './formation-command';
