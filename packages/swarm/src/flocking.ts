// SPDX-License-Identifier: Apache-2.0
// Reynolds flocking (separation, alignment, cohesion) as a pure function of one agent and its neighbours.
import { ValidationError } from '@ecps/core';
import type { Vec3 } from './formations';

export interface FlockingParameters {
  readonly separationWeight: number;
  readonly alignmentWeight: number;
  readonly cohesionWeight: number;
  /** Neighbours farther than this are ignored. */
  readonly neighborRadius: number;
  /** Neighbours closer than this push the agent away. */
  readonly separationRadius: number;
  readonly maxSpeed: number;
}

export const DEFAULT_FLOCKING: FlockingParameters = {
  separationWeight: 1.5,
  alignmentWeight: 1,
  cohesionWeight: 1,
  neighborRadius: 5,
  separationRadius: 1,
  maxSpeed: 1,
};

export interface Boid {
  readonly position: Vec3;
  readonly velocity: Vec3;
}

const add = (a: Vec3, b: Vec3): Vec3 => ({ x: a.x + b.x, y: a.y + b.y, z: a.z + b.z });
const sub = (a: Vec3, b: Vec3): Vec3 => ({ x: a.x - b.x, y: a.y - b.y, z: a.z - b.z });
const scale = (a: Vec3, k: number): Vec3 => ({ x: a.x * k, y: a.y * k, z: a.z * k });
const norm = (a: Vec3): number => Math.hypot(a.x, a.y, a.z);
const ZERO: Vec3 = { x: 0, y: 0, z: 0 };

/**
 * The new velocity of `self`: its velocity plus the weighted steering terms, clamped to `maxSpeed`.
 * Separation sums unit vectors away from close neighbours weighted by closeness; alignment steers toward the
 * neighbours' mean velocity; cohesion toward their centroid.
 * @throws ValidationError `INVALID_ARGUMENT` for negative radii or speed.
 */
export function flockingVelocity(self: Boid, neighbors: readonly Boid[], params: FlockingParameters = DEFAULT_FLOCKING): Vec3 {
  if (params.neighborRadius < 0 || params.separationRadius < 0 || params.maxSpeed < 0) {
    throw new ValidationError('INVALID_ARGUMENT', 'flocking radii and speed must be non-negative');
  }
  const near = neighbors.filter((n) => norm(sub(n.position, self.position)) <= params.neighborRadius);
  let steer = ZERO;
  if (near.length > 0) {
    let separation = ZERO;
    for (const n of near) {
      const away = sub(self.position, n.position);
      const d = norm(away);
      if (d > 0 && d < params.separationRadius) separation = add(separation, scale(away, (params.separationRadius - d) / (d * params.separationRadius)));
    }
    const meanVel = scale(near.reduce((s, n) => add(s, n.velocity), ZERO), 1 / near.length);
    const centroid = scale(near.reduce((s, n) => add(s, n.position), ZERO), 1 / near.length);
    steer = add(
      add(scale(separation, params.separationWeight), scale(sub(meanVel, self.velocity), params.alignmentWeight)),
      scale(sub(centroid, self.position), params.cohesionWeight),
    );
  }
  const v = add(self.velocity, steer);
  const speed = norm(v);
  return speed > params.maxSpeed && speed > 0 ? scale(v, params.maxSpeed / speed) : v;
}
