// SPDX-License-Identifier: Apache-2.0
// The six EAP action types (spec §5.1): builders that validate action data and produce the canonical bodies.
// Field names are accepted in camelCase or the reference's snake_case; unknown names are rejected (the reference
// ignores them silently), enums are accepted by name or number, numbers are range-checked.
import { ValidationError } from '@ecps/core';
import { GripperOp_GripperCommand, ManipulateOp_ManipulationType } from '@ecps/proto';
import type { CloudOp, EAP, GripperOp, ManipulateOp, NavigateOp, RobotPose, SimStep } from '@ecps/proto';

/** The spec's action type names, in oneof order (fields 10-15). */
export const ACTION_TYPES = ['set_pose', 'gripper', 'cloud', 'sim', 'navigate', 'manipulate'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/** Canonical body message of each action type. */
export interface ActionBodies {
  set_pose: RobotPose;
  gripper: GripperOp;
  cloud: CloudOp;
  sim: SimStep;
  navigate: NavigateOp;
  manipulate: ManipulateOp;
}

type Num = number;
/** Pose data: position in m, unit quaternion (default identity), frame, timestamp (ns; bigint, number or decimal string). */
export interface PoseData {
  x?: Num; y?: Num; z?: Num;
  qw?: Num; qx?: Num; qy?: Num; qz?: Num;
  frameId?: string; frame_id?: string;
  timestampNs?: bigint | number | string; timestamp_ns?: bigint | number | string;
}
export type GripperCommandName = 'OPEN' | 'CLOSE' | 'GRIP';
export interface GripperData {
  command: GripperCommandName | GripperOp_GripperCommand | 1 | 2 | 3;
  /** 0 = closed ... 1 = open. */
  position?: Num;
  /** Newtons, ≥ 0. */
  forceLimit?: Num; force_limit?: Num;
}
export interface CloudData {
  apiName?: string; api_name?: string;
  methodName?: string; method_name?: string;
  /** JSON: bytes, a JSON string, or a value to serialise. */
  jsonPayload?: Uint8Array | string | object; json_payload?: Uint8Array | string | object;
  requiresOauth2?: boolean; requires_oauth2?: boolean;
}
export interface SimData {
  durationS?: Num; duration_s?: Num;
  physicsSteps?: Num; physics_steps?: Num;
  renderFrame?: boolean; render_frame?: boolean;
}
export interface NavigateData {
  targetPose?: PoseData; target_pose?: PoseData;
  /** m/s, > 0 when given. */
  maxVelocity?: Num; max_velocity?: Num;
  /** m, ≥ 0. */
  tolerance?: Num;
  plannerId?: string; planner_id?: string;
}
export type ManipulationName = 'PICK' | 'PLACE' | 'PICK_AND_PLACE' | 'PUSH' | 'PULL';
export interface ManipulateData {
  type: ManipulationName | ManipulateOp_ManipulationType;
  targetPose?: PoseData; target_pose?: PoseData;
  objectId?: string; object_id?: string;
  approachDistance?: Num; approach_distance?: Num;
  forceThreshold?: Num; force_threshold?: Num;
}
/** Input data of each action type. */
export interface ActionData {
  set_pose: PoseData;
  gripper: GripperData;
  cloud: CloudData;
  sim: SimData;
  navigate: NavigateData;
  manipulate: ManipulateData;
}

const invalid = (action: string, field: string, why: string): ValidationError =>
  new ValidationError('INVALID_ARGUMENT', `${action}.${field}: ${why}`, { details: { action, field } });

/** Reads fields by camelCase or snake_case name; rejects names outside `allowed` and both spellings at once. */
function fieldsOf(action: string, data: unknown, allowed: readonly string[]): Map<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw invalid(action, '(data)', 'must be an object');
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(data)) {
    const camel = key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
    if (!allowed.includes(camel)) throw invalid(action, key, `unknown field (allowed: ${allowed.join(', ')})`);
    if (value === undefined) continue;
    if (out.has(camel)) throw invalid(action, key, 'given twice (camelCase and snake_case)');
    out.set(camel, value);
  }
  return out;
}

const FLOAT32_MAX = 3.4028234663852886e38;

function num(action: string, f: Map<string, unknown>, field: string, opts: { min?: number; max?: number; exclusiveMin?: boolean; float32?: boolean; def?: number } = {}): number {
  const value = f.get(field);
  if (value === undefined) return opts.def ?? 0;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(action, field, 'must be a finite number');
  if (opts.float32 && Math.abs(value) > FLOAT32_MAX) throw invalid(action, field, 'exceeds float32 range');
  if (opts.min !== undefined && (opts.exclusiveMin ? value <= opts.min : value < opts.min)) {
    throw invalid(action, field, `must be ${opts.exclusiveMin ? '>' : '>='} ${opts.min}`);
  }
  if (opts.max !== undefined && value > opts.max) throw invalid(action, field, `must be <= ${opts.max}`);
  return value;
}

function str(action: string, f: Map<string, unknown>, field: string, required = false): string {
  const value = f.get(field);
  if (value === undefined) {
    if (required) throw invalid(action, field, 'is required');
    return '';
  }
  if (typeof value !== 'string') throw invalid(action, field, 'must be a string');
  if (required && value === '') throw invalid(action, field, 'must not be empty');
  return value;
}

function bool(action: string, f: Map<string, unknown>, field: string): boolean {
  const value = f.get(field);
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalid(action, field, 'must be a boolean');
  return value;
}

const U64_MAX = (1n << 64n) - 1n;

function u64(action: string, f: Map<string, unknown>, field: string): bigint {
  const value = f.get(field);
  if (value === undefined) return 0n;
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
  else if (typeof value === 'string' && /^[0-9]+$/.test(value)) big = BigInt(value);
  else throw invalid(action, field, 'must be a non-negative integer (bigint, safe number or decimal string)');
  if (big < 0n || big > U64_MAX) throw invalid(action, field, 'out of uint64 range');
  return big;
}

const POSE_FIELDS = ['x', 'y', 'z', 'qw', 'qx', 'qy', 'qz', 'frameId', 'timestampNs'] as const;

/** Builds a RobotPose; the quaternion defaults to identity and must be unit length (±1e-3). */
export function buildPose(data: PoseData, action = 'set_pose'): RobotPose {
  const f = fieldsOf(action, data, POSE_FIELDS);
  const hasRotation = ['qw', 'qx', 'qy', 'qz'].some((k) => f.has(k));
  const pose: RobotPose = {
    x: num(action, f, 'x'),
    y: num(action, f, 'y'),
    z: num(action, f, 'z'),
    qw: num(action, f, 'qw', { def: hasRotation ? 0 : 1 }),
    qx: num(action, f, 'qx'),
    qy: num(action, f, 'qy'),
    qz: num(action, f, 'qz'),
    frameId: str(action, f, 'frameId'),
    timestampNs: u64(action, f, 'timestampNs'),
  };
  const norm = Math.hypot(pose.qw, pose.qx, pose.qy, pose.qz);
  if (Math.abs(norm - 1) > 1e-3) throw invalid(action, 'q', `quaternion must be unit length, |q| = ${norm}`);
  return pose;
}

function enumValue<E extends number>(action: string, field: string, value: unknown, names: Record<string, E>): E {
  if (typeof value === 'string' && Object.hasOwn(names, value)) return names[value] as E;
  if (typeof value === 'number' && (Object.values(names) as number[]).includes(value)) return value as E;
  throw invalid(action, field, `must be one of ${Object.keys(names).join(', ')} (or their numbers)`);
}

const GRIPPER_COMMANDS: Record<string, GripperOp_GripperCommand> = { OPEN: GripperOp_GripperCommand.OPEN, CLOSE: GripperOp_GripperCommand.CLOSE, GRIP: GripperOp_GripperCommand.GRIP };
const MANIPULATIONS: Record<string, ManipulateOp_ManipulationType> = {
  PICK: ManipulateOp_ManipulationType.PICK,
  PLACE: ManipulateOp_ManipulationType.PLACE,
  PICK_AND_PLACE: ManipulateOp_ManipulationType.PICK_AND_PLACE,
  PUSH: ManipulateOp_ManipulationType.PUSH,
  PULL: ManipulateOp_ManipulationType.PULL,
};

function jsonBytes(action: string, value: unknown): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  let bytes: Uint8Array;
  if (value instanceof Uint8Array) bytes = value;
  else if (typeof value === 'string') bytes = new TextEncoder().encode(value);
  else bytes = new TextEncoder().encode(JSON.stringify(value));
  if (bytes.length > 0) {
    try {
      JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      throw invalid(action, 'jsonPayload', 'must be valid UTF-8 JSON');
    }
  }
  return bytes;
}

const BUILDERS: { [K in ActionType]: (data: ActionData[K]) => ActionBodies[K] } = {
  set_pose: (data) => buildPose(data, 'set_pose'),
  gripper: (data) => {
    const f = fieldsOf('gripper', data, ['command', 'position', 'forceLimit']);
    if (!f.has('command')) throw invalid('gripper', 'command', 'is required');
    return {
      command: enumValue('gripper', 'command', f.get('command'), GRIPPER_COMMANDS),
      position: num('gripper', f, 'position', { min: 0, max: 1 }),
      forceLimit: num('gripper', f, 'forceLimit', { min: 0, float32: true }),
    };
  },
  cloud: (data) => {
    const f = fieldsOf('cloud', data, ['apiName', 'methodName', 'jsonPayload', 'requiresOauth2']);
    return {
      apiName: str('cloud', f, 'apiName', true),
      methodName: str('cloud', f, 'methodName', true),
      jsonPayload: jsonBytes('cloud', f.get('jsonPayload')),
      requiresOauth2: bool('cloud', f, 'requiresOauth2'),
    };
  },
  sim: (data) => {
    const f = fieldsOf('sim', data, ['durationS', 'physicsSteps', 'renderFrame']);
    const steps = num('sim', f, 'physicsSteps', { min: 0, max: 0xffffffff });
    if (!Number.isInteger(steps)) throw invalid('sim', 'physicsSteps', 'must be an integer');
    return { durationS: num('sim', f, 'durationS', { min: 0 }), physicsSteps: steps, renderFrame: bool('sim', f, 'renderFrame') };
  },
  navigate: (data) => {
    const f = fieldsOf('navigate', data, ['targetPose', 'maxVelocity', 'tolerance', 'plannerId']);
    const target = f.get('targetPose');
    if (target === undefined) throw invalid('navigate', 'targetPose', 'is required');
    return {
      targetPose: buildPose(target as PoseData, 'navigate.targetPose'),
      maxVelocity: f.has('maxVelocity') ? num('navigate', f, 'maxVelocity', { min: 0, exclusiveMin: true, float32: true }) : 0,
      tolerance: num('navigate', f, 'tolerance', { min: 0, float32: true }),
      plannerId: str('navigate', f, 'plannerId'),
    };
  },
  manipulate: (data) => {
    const f = fieldsOf('manipulate', data, ['type', 'targetPose', 'objectId', 'approachDistance', 'forceThreshold']);
    if (!f.has('type')) throw invalid('manipulate', 'type', 'is required');
    const target = f.get('targetPose');
    return {
      type: enumValue('manipulate', 'type', f.get('type'), MANIPULATIONS),
      targetPose: target === undefined ? undefined : buildPose(target as PoseData, 'manipulate.targetPose'),
      objectId: str('manipulate', f, 'objectId'),
      approachDistance: num('manipulate', f, 'approachDistance', { min: 0, float32: true }),
      forceThreshold: num('manipulate', f, 'forceThreshold', { min: 0, float32: true }),
    };
  },
};

/** Builds and validates the body of an action. Throws `INVALID_ARGUMENT` (with `details.field`) for bad data. */
export function buildActionBody<K extends ActionType>(type: K, data: ActionData[K]): ActionBodies[K] {
  const builder = BUILDERS[type] as ((d: ActionData[K]) => ActionBodies[K]) | undefined;
  if (!builder) throw new ValidationError('INVALID_ARGUMENT', `unknown action type ${JSON.stringify(type)} (known: ${ACTION_TYPES.join(', ')})`);
  return builder(data);
}

const CASE_OF: Record<ActionType, NonNullable<EAP['body']>['$case']> = {
  set_pose: 'setPose',
  gripper: 'gripper',
  cloud: 'cloud',
  sim: 'sim',
  navigate: 'navigate',
  manipulate: 'manipulate',
};
const TYPE_OF: Record<string, ActionType> = Object.fromEntries(Object.entries(CASE_OF).map(([k, v]) => [v, k as ActionType]));

/** The EAP oneof body for an action type and its built body. */
export function eapBody<K extends ActionType>(type: K, body: ActionBodies[K]): NonNullable<EAP['body']> {
  return { $case: CASE_OF[type], value: body } as NonNullable<EAP['body']>;
}

/** The spec action type of an EAP message's body, or undefined without one. */
export function actionTypeOf(eap: Pick<EAP, 'body'>): ActionType | undefined {
  return eap.body ? TYPE_OF[eap.body.$case] : undefined;
}

const poseData = (pose: RobotPose): PoseData => ({
  x: pose.x,
  y: pose.y,
  z: pose.z,
  qw: pose.qw,
  qx: pose.qx,
  qy: pose.qy,
  qz: pose.qz,
  frameId: pose.frameId,
  timestampNs: pose.timestampNs,
});

/** A received body as builder input, so the receiver checks exactly what the builders check. */
const RECEIVED: { [K in ActionType]: (body: ActionBodies[K]) => ActionData[K] } = {
  set_pose: poseData,
  gripper: (op) => ({ command: op.command, position: op.position, forceLimit: op.forceLimit }),
  cloud: (op) => ({ apiName: op.apiName, methodName: op.methodName, jsonPayload: op.jsonPayload, requiresOauth2: op.requiresOauth2 }),
  sim: (op) => ({ durationS: op.durationS, physicsSteps: op.physicsSteps, renderFrame: op.renderFrame }),
  navigate: (op) => ({
    ...(op.targetPose ? { targetPose: poseData(op.targetPose) } : {}),
    // 0 is protobuf's "not set"; the builder leaves an absent speed at 0
    ...(op.maxVelocity !== 0 ? { maxVelocity: op.maxVelocity } : {}),
    tolerance: op.tolerance,
    plannerId: op.plannerId,
  }),
  manipulate: (op) => ({
    type: op.type,
    ...(op.targetPose ? { targetPose: poseData(op.targetPose) } : {}),
    objectId: op.objectId,
    approachDistance: op.approachDistance,
    forceThreshold: op.forceThreshold,
  }),
};

/**
 * Checks a received action body against every rule its builder applies (finite numbers, gripper position 0..1,
 * non-negative forces and distances, unit quaternions, known enum values, required fields). Throws
 * `INVALID_ARGUMENT` with `details.field`.
 */
export function assertValidActionBody(eap: Pick<EAP, 'body'>): void {
  const type = actionTypeOf(eap);
  if (!type || !eap.body) return;
  const toData = RECEIVED[type] as (body: unknown) => never;
  buildActionBody(type, toData(eap.body.value));
}
