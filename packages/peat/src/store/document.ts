// SPDX-License-Identifier: Apache-2.0
// Field-level writes into an Automerge document (spec §6.1): assign only the leaves that changed, create a nested
// map only when it is absent, delete keys missing from the new value. Plus the two register shapes Peat needs:
// the add-wins OR-set (an Automerge map keyed by id: a put concurrent with a delete survives) and the leader
// register resolved by (round, score_q, node_id).
import * as A from '@automerge/automerge';
import { PeatError } from '../errors';

/** A document value: maps, lists, strings, numbers, booleans, null and bytes. */
export type DocValue = Readonly<Record<string, unknown>>;

/** Root fields the store manages itself; a write's diff never deletes them. */
export const SYSTEM_FIELDS: ReadonlySet<string> = new Set(['_created_at', '_updated_at', '_deleted', '_epoch']);

type Draft = Record<string, unknown>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function sameScalar(cur: unknown, next: unknown): boolean {
  if (cur instanceof Uint8Array && next instanceof Uint8Array) {
    return cur.length === next.length && cur.every((x, i) => x === next[i]);
  }
  if (A.isImmutableString(cur)) return typeof next === 'string' && cur.val === next;
  return Object.is(cur, next);
}

// Strings are stored as Automerge scalar strings (last writer wins), never as collaborative text: two concurrent
// writes of "alpha" and "beta" must give one of them, not an interleaving of their characters.
function stored(v: unknown): unknown {
  if (typeof v === 'string') return new A.ImmutableString(v);
  if (Array.isArray(v)) return v.map(stored);
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, stored(x)]));
  return v;
}

/** A value read from a document as plain JS: scalar strings become strings and counters numbers. */
export function toPlain(v: unknown): unknown {
  if (A.isImmutableString(v)) return v.val;
  if (v instanceof A.Counter) return v.value;
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(toPlain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  return v;
}

function checkValue(v: unknown, path: string): void {
  if (v === undefined) throw new PeatError('INVALID_ARGUMENT', `undefined at ${path}: use null or leave the key out`);
  if (typeof v === 'number' && !Number.isFinite(v)) throw new PeatError('INVALID_ARGUMENT', `non-finite number at ${path}`);
  if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') {
    throw new PeatError('INVALID_ARGUMENT', `unsupported ${typeof v} at ${path}`);
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !isPlainObject(v) && !(v instanceof A.Counter)) {
    throw new PeatError('INVALID_ARGUMENT', `unsupported object at ${path} (plain objects, arrays, Uint8Array, Counter only)`);
  }
}

function checkTree(v: unknown, path: string): void {
  checkValue(v, path);
  if (Array.isArray(v)) v.forEach((x, i) => checkTree(x, `${path}[${i}]`));
  else if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) checkTree(x, `${path}.${k}`);
}

function diffList(target: unknown[], next: readonly unknown[], path: string): void {
  const common = Math.min(target.length, next.length);
  for (let i = 0; i < common; i++) {
    const cur = target[i];
    const val = next[i];
    checkValue(val, `${path}[${i}]`);
    if (isPlainObject(val) && isPlainObject(cur)) diffMap(cur, val, `${path}[${i}]`, false);
    else if (Array.isArray(val) && Array.isArray(cur)) diffList(cur, val, `${path}[${i}]`);
    else if (!sameScalar(cur, val)) target[i] = stored(val);
  }
  if (target.length > next.length) A.deleteAt(target, next.length, target.length - next.length);
  for (let i = common; i < next.length; i++) {
    checkTree(next[i], `${path}[${i}]`);
    target.push(stored(next[i]));
  }
}

function diffMap(target: Draft, next: Readonly<Record<string, unknown>>, path: string, root: boolean): void {
  for (const key of Object.keys(target)) {
    if (!(key in next) && !(root && SYSTEM_FIELDS.has(key))) delete target[key];
  }
  for (const [key, val] of Object.entries(next)) {
    const at = path ? `${path}.${key}` : key;
    checkValue(val, at);
    const cur = target[key];
    if (isPlainObject(val)) {
      if (!isPlainObject(cur)) target[key] = {};
      diffMap(target[key] as Draft, val, at, false);
    } else if (Array.isArray(val)) {
      if (!Array.isArray(cur)) target[key] = [];
      diffList(target[key] as unknown[], val, at);
    } else if (val instanceof A.Counter) {
      if (!(cur instanceof A.Counter)) target[key] = new A.Counter(val.value);
      else if (cur.value !== val.value) cur.increment(val.value - cur.value);
    } else if (cur instanceof A.Counter && typeof val === 'number') {
      // a counter read back as a number and written again keeps its counter semantics
      if (cur.value !== val) cur.increment(val - cur.value);
    } else if (!sameScalar(cur, val)) {
      target[key] = stored(val);
    }
  }
}

/**
 * Makes `draft` (inside `A.change`) equal to `value`, touching only what differs. Root system fields are kept.
 * @throws PeatError `INVALID_ARGUMENT` for undefined, non-finite numbers, bigint, functions and class instances.
 */
export function writeDiff(draft: Draft, value: DocValue): void {
  if (!isPlainObject(value)) throw new PeatError('INVALID_ARGUMENT', 'a document value must be a plain object');
  diffMap(draft, value, '', true);
}

/** The leader register of a cell or zone document. */
export interface LeaderRegister {
  readonly node_id: string;
  readonly round: number;
  readonly score_q: number;
  readonly autonomous: boolean;
}

function isLeader(v: unknown): v is LeaderRegister & Record<string, unknown> {
  if (!isPlainObject(v)) return false;
  return typeof v['node_id'] === 'string' && typeof v['round'] === 'number' && typeof v['score_q'] === 'number';
}

/** Orders leader candidates by (round, score_q, node_id); positive when `a` wins. */
export function compareLeaders(a: LeaderRegister, b: LeaderRegister): number {
  if (a.round !== b.round) return a.round - b.round;
  if (a.score_q !== b.score_q) return a.score_q - b.score_q;
  return a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : 0;
}

/**
 * Reads `field` (default `leader`) of `doc`, resolving concurrent writes by max (round, score_q, node_id)
 * rather than by Automerge's actor order. Undefined when absent or malformed. Not usable inside a change.
 */
export function readLeader(doc: A.Doc<unknown>, field = 'leader'): LeaderRegister | undefined {
  const d = doc as A.Doc<Record<string, unknown>>;
  // getConflicts answers undefined when there is a single value
  const values = Object.values(A.getConflicts(d, field) ?? { only: d[field] });
  let best: LeaderRegister | undefined;
  for (const raw of values) {
    const v = toPlain(raw);
    if (!isLeader(v)) continue;
    const cand: LeaderRegister = { node_id: v.node_id, round: v.round, score_q: v.score_q, autonomous: v['autonomous'] === true };
    if (!best || compareLeaders(cand, best) > 0) best = cand;
  }
  return best;
}

/**
 * Writes the register as one atomic map, only when `leader.round ≥` the stored round (resolved as above).
 * Returns whether it wrote. @throws PeatError `INVALID_ARGUMENT` for a malformed register.
 */
export function writeLeader(draft: Draft, current: LeaderRegister | undefined, leader: LeaderRegister, field = 'leader'): boolean {
  if (!isLeader(leader) || !Number.isInteger(leader.round) || leader.round < 0 || !Number.isInteger(leader.score_q)) {
    throw new PeatError('INVALID_ARGUMENT', 'a leader register needs node_id, a non-negative integer round and an integer score_q');
  }
  if (current && leader.round < current.round) return false;
  draft[field] = stored({ node_id: leader.node_id, round: leader.round, score_q: leader.score_q, autonomous: leader.autonomous });
  return true;
}

/**
 * Adds `id → entry` to the OR-set map at `draft[field]` (created when absent). A concurrent remove loses. The entry
 * is always written as a fresh map, even when `id` is already present: an edit inside the existing map would be
 * lost with it to a concurrent remove, and a re-add would not win.
 */
export function orSetAdd(draft: Draft, field: string, id: string, entry: DocValue = {}): void {
  let set = draft[field];
  if (!isPlainObject(set)) {
    draft[field] = {};
    set = draft[field];
  }
  const s = set as Draft;
  s[id] = {};
  writeDiff(s[id] as Draft, entry);
}

/** Removes `id` from the OR-set at `draft[field]`; only the adds this replica has seen are removed. */
export function orSetRemove(draft: Draft, field: string, id: string): void {
  const set = draft[field];
  if (isPlainObject(set)) delete (set as Draft)[id];
}
