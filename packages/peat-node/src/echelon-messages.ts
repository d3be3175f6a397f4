// SPDX-License-Identifier: Apache-2.0
// What travels along the hierarchy besides summaries (spec §5.3, §7): commands and deployment directives and
// controls go down (company → platoon → squad → members); events, event summaries and deployment statuses go up.
// `to` names the hop: `cell:<id>` (the cell's members, or its leader going up), `zone:<id>` (the cell leaders of
// a zone, or its leader going up), `company:<id>` (likewise one level higher).
import { isEcpsError } from '@ecps/core';
import { parseDirective } from '@ecps/peat-deploy';
import type { DeploymentControl, DeploymentDirective, DeploymentStatus } from '@ecps/peat-deploy';
import type { EventPriority, EventSummary, PeatEvent } from '@ecps/peat-hierarchy';

export type CommandPriority = 'ROUTINE' | 'PRIORITY' | 'IMMEDIATE' | 'FLASH';

/** A command from a leader to the nodes below it. */
export interface HierarchicalCommand {
  readonly command_id: string;
  readonly originator_id: string;
  /** BROADCAST: everyone below the originator; SQUAD / PLATOON: the listed cells / zones; INDIVIDUAL: the listed nodes. */
  readonly target: { readonly scope: 'INDIVIDUAL' | 'SQUAD' | 'PLATOON' | 'BROADCAST'; readonly target_ids: readonly string[] };
  readonly command_type: 'MissionOrder' | 'EngagementOrder' | 'FormationChange' | 'ConfigurationUpdate';
  readonly priority: CommandPriority;
  readonly issued_at: number;
  readonly payload: unknown;
}

export type DownItem =
  | { readonly type: 'command'; readonly command: HierarchicalCommand }
  | { readonly type: 'directive'; readonly directive: DeploymentDirective }
  | { readonly type: 'control'; readonly directive_id: string; readonly control: DeploymentControl };

export type UpItem =
  | { readonly type: 'event'; readonly event: PeatEvent }
  | { readonly type: 'event_summary'; readonly summary: EventSummary }
  | { readonly type: 'status'; readonly status: DeploymentStatus };

/** Downward priority, 0 (routine) .. 3 (flash); directives and controls by their deployment priority. */
export function downPriority(item: DownItem): number {
  switch (item.type) {
    case 'command':
      return { ROUTINE: 0, PRIORITY: 1, IMMEDIATE: 2, FLASH: 3 }[item.command.priority] ?? 0;
    case 'directive':
      return { low: 0, normal: 1, high: 2, critical: 3 }[item.directive.options.priority] ?? 1;
    case 'control':
      return 3;
  }
}

/** The key a node remembers a down item by, so one heard twice (from two hops) is handled once. */
export function downKey(item: DownItem): string {
  return item.type === 'command' ? `c:${item.command.command_id}` : item.type === 'directive' ? `d:${item.directive.directive_id}` : `r:${item.directive_id}`;
}

/** Upward priority: statuses HIGH, events and event summaries their own. */
export function upPriority(item: UpItem): EventPriority {
  switch (item.type) {
    case 'status':
      return 'HIGH';
    case 'event':
      return item.event.priority;
    case 'event_summary':
      return item.summary.priority;
  }
}

/** Where a node stands, for command targeting. */
export interface CommandAudience {
  readonly nodeId: string;
  readonly cellId: string | null;
  readonly zoneId: string;
}

/** Whether `command` is meant for the node `here` (every node on its way down hears it; the targeted ones act). */
export function commandIsFor(command: HierarchicalCommand, here: CommandAudience): boolean {
  const { scope, target_ids: ids } = command.target;
  switch (scope) {
    case 'BROADCAST':
      return true;
    case 'INDIVIDUAL':
      return ids.includes(here.nodeId);
    case 'SQUAD':
      return here.cellId !== null && ids.includes(here.cellId);
    case 'PLATOON':
      return ids.includes(here.zoneId);
  }
}

// ---- reading items a peer sent: only what has the shape the node relies on gets through ----

const PRIORITIES: ReadonlySet<unknown> = new Set(['CRITICAL', 'HIGH', 'NORMAL', 'LOW']);
const EVENT_MODES: ReadonlySet<unknown> = new Set(['Full', 'Summary', 'Query', 'Local']);
const COMMAND_PRIORITIES: ReadonlySet<unknown> = new Set(['ROUTINE', 'PRIORITY', 'IMMEDIATE', 'FLASH']);
const SCOPES: ReadonlySet<unknown> = new Set(['INDIVIDUAL', 'SQUAD', 'PLATOON', 'BROADCAST']);
const DEPLOYMENT_STATES: ReadonlySet<unknown> = new Set(['pending', 'downloading', 'activating', 'active', 'failed', 'rolled_back']);

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.every((v) => typeof v === 'string');

function isCommand(c: unknown): c is HierarchicalCommand {
  return isObject(c) && typeof c['command_id'] === 'string' && COMMAND_PRIORITIES.has(c['priority']) && isObject(c['target']) && SCOPES.has(c['target']['scope']) && isStrings(c['target']['target_ids']);
}

function isEvent(e: unknown): e is PeatEvent {
  return isObject(e) && typeof e['event_type'] === 'string' && typeof e['source'] === 'string' && PRIORITIES.has(e['priority']) && EVENT_MODES.has(e['mode']) && Number.isFinite(e['timestamp']);
}

/**
 * A down item received from a peer, or null when it does not have the shape this node relies on (a directive is
 * read with the deployment parser, which fills its omitted options).
 */
export function readDownItem(x: unknown): DownItem | null {
  if (!isObject(x)) return null;
  switch (x['type']) {
    case 'command':
      return isCommand(x['command']) ? (x as DownItem) : null;
    case 'directive':
      try {
        return { type: 'directive', directive: parseDirective(x['directive']) };
      } catch (e) {
        if (isEcpsError(e, 'DECODE_ERROR')) return null;
        throw e;
      }
    case 'control':
      return typeof x['directive_id'] === 'string' && isObject(x['control']) ? (x as DownItem) : null;
    default:
      return null;
  }
}

/** An up item received from a peer, or null when it does not have the shape this node relies on. */
export function readUpItem(x: unknown): UpItem | null {
  if (!isObject(x)) return null;
  switch (x['type']) {
    case 'event':
      return isEvent(x['event']) ? (x as UpItem) : null;
    case 'event_summary': {
      const s = x['summary'];
      return isObject(s) && typeof s['event_type'] === 'string' && PRIORITIES.has(s['priority']) ? (x as UpItem) : null;
    }
    case 'status': {
      const s = x['status'];
      return isObject(s) && typeof s['directive_id'] === 'string' && typeof s['node_id'] === 'string' && typeof s['reported_at'] === 'string' && DEPLOYMENT_STATES.has(s['state'])
        ? (x as UpItem)
        : null;
    }
    default:
      return null;
  }
}
