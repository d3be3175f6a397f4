// SPDX-License-Identifier: Apache-2.0
// What travels along the hierarchy besides summaries (spec §5.3, §7): commands and deployment directives and
// controls go down (company → platoon → squad → members); events, event summaries and deployment statuses go up.
// `to` names the hop: `cell:<id>` (the cell's members, or its leader going up), `zone:<id>` (the cell leaders of
// a zone, or its leader going up), `company:<id>` (likewise one level higher).
import type { DeploymentControl, DeploymentDirective, DeploymentStatus } from '@ecps/peat-deploy';
import type { EventSummary, PeatEvent } from '@ecps/peat-hierarchy';

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
