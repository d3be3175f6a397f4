// SPDX-License-Identifier: Apache-2.0
// Deployment directives on the node (spec §7). Every node runs a DeploymentAgent: a directive that comes down the
// hierarchy is matched against this node's profile (its formation ids are attributes too, so a capability scope
// can also require membership: `custom: { zone_id: 'platoon-1' }`), fetched, verified and activated, and every
// status goes up the hierarchy. The issuer (a leader: directives go down from it) tracks the statuses that reach
// it and, once the outcome is decided below the success threshold, sends the rollback control down the same way.
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { PeatError } from '@ecps/peat';
import type { NodeConfig } from '@ecps/peat';
import { DeploymentAgent, DeploymentTracker } from '@ecps/peat-deploy';
import type { BlobStore, DeploymentDirective, DeploymentOutcome, DeploymentState, DeploymentStatus, FolderBlobStore, NodeProfile, RuntimeAdapter, TransferProfile } from '@ecps/peat-deploy';
import type { SquadSummary } from '@ecps/peat-hierarchy';
import type { DownItem } from './echelon-messages';
import type { DeploymentPort, HierarchyDriver } from './hierarchy-driver';

export interface NodeDeploymentOptions {
  /** Where artifacts come from (an HTTP mirror through `HttpBlobStore`, or a folder). */
  readonly source: BlobStore;
  /** This node's own content-addressed folder. */
  readonly local: FolderBlobStore;
  readonly adapters: readonly RuntimeAdapter[];
  /** Free resources, for capability scopes. Default 0 each. */
  readonly resources?: NodeProfile['resources'];
  /** Attributes for `custom` scope filters (the node adds `mesh_id`, `cell_id`, `zone_id` and `company_id`). */
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** The formation (mesh) id. */
  readonly meshId?: string;
  readonly transfer?: TransferProfile;
  /** As issuer: the outcome of a directive, once decided. */
  readonly onOutcome?: (directiveId: string, outcome: DeploymentOutcome) => void;
}

export interface DeploymentHost {
  readonly id: string;
  readonly clock: Clock;
  readonly config: NodeConfig;
  readonly logger: Logger;
  readonly hierarchy: HierarchyDriver;
  cellId(): string | null;
}

const STATE_ORDER: Readonly<Record<DeploymentState, number>> = { pending: 0, downloading: 1, activating: 2, active: 3, failed: 3, rolled_back: 4 };

/** Directives this node issued and still tracks (older ones are forgotten first). */
const MAX_TRACKED = 64;

export class DeploymentDriver implements DeploymentPort {
  readonly agent: DeploymentAgent;
  private readonly tracked = new Map<string, { tracker: DeploymentTracker; statuses: Map<string, DeploymentStatus>; outcome: DeploymentOutcome | null; timer: TimerHandle }>();

  constructor(
    private readonly host: DeploymentHost,
    private readonly options: NodeDeploymentOptions,
  ) {
    this.agent = new DeploymentAgent({
      nodeId: host.id,
      clock: host.clock,
      profile: () => this.profile(),
      source: options.source,
      local: options.local,
      adapters: options.adapters,
      report: (status) => host.hierarchy.sendUp({ type: 'status', status }),
      logger: host.logger,
      ...(options.transfer ? { transfer: options.transfer } : {}),
    });
    host.hierarchy.attachDeployment(this);
  }

  /** This node as scope matching sees it. */
  profile(): NodeProfile {
    const h = this.host.hierarchy;
    const formation = { mesh: this.options.meshId ?? null, cell: this.host.cellId(), zone: h.zoneId, company: h.companyId };
    return {
      node_id: this.host.id,
      formation_ids: formation,
      resources: this.options.resources ?? { gpu_memory_mb: 0, memory_mb: 0, storage_mb: 0 },
      capabilities: this.host.config.capabilities,
      attributes: { ...this.options.attributes, mesh_id: formation.mesh, cell_id: formation.cell, zone_id: formation.zone, company_id: formation.company },
    };
  }

  /**
   * Issues a directive from this node down its hierarchy and tracks the outcome.
   * @throws PeatError `INVALID_ARGUMENT` when the directive's issuer is another node or it is already tracked;
   * `CONFLICT` when this node leads nothing.
   */
  deploy(directive: DeploymentDirective): void {
    if (directive.issuer_node_id !== this.host.id) throw new PeatError('INVALID_ARGUMENT', `directive ${directive.directive_id} is issued by ${directive.issuer_node_id}, not ${this.host.id}`);
    if (this.tracked.has(directive.directive_id)) throw new PeatError('INVALID_ARGUMENT', `directive ${directive.directive_id} was already issued`);
    const tracker = new DeploymentTracker(directive, this.believedTargets(directive));
    const deadline = Date.parse(directive.issued_at) + directive.options.timeout_seconds * 1000;
    const timer = this.host.clock.setTimeout(() => this.decide(directive.directive_id), Math.max(0, deadline - this.host.clock.now()) + 1);
    this.tracked.set(directive.directive_id, { tracker, statuses: new Map(), outcome: null, timer });
    if (this.tracked.size > MAX_TRACKED) this.forget(this.tracked.keys().next().value!);
    try {
      this.host.hierarchy.sendDown({ type: 'directive', directive });
    } catch (e) {
      this.forget(directive.directive_id);
      throw e;
    }
  }

  /** As issuer: the statuses heard for a directive, by node. */
  statuses(directiveId: string): ReadonlyMap<string, DeploymentStatus> {
    return this.tracked.get(directiveId)?.statuses ?? new Map();
  }

  outcome(directiveId: string): DeploymentOutcome | null {
    return this.tracked.get(directiveId)?.outcome ?? null;
  }

  /** A directive or a control came down the hierarchy. */
  down(item: Exclude<DownItem, { type: 'command' }>): void {
    if (item.type === 'directive') this.agent.accept(item.directive);
    else void this.agent.control(item.directive_id, item.control).catch((e: unknown) => this.host.logger.warn('peat node: rollback failed', { node: this.host.id, directive: item.directive_id, error: String(e) }));
  }

  /** A status passed through this node going up; the issuer tracks its own directives'. */
  status(status: DeploymentStatus): void {
    const t = this.tracked.get(status.directive_id);
    if (!t) return;
    const old = t.statuses.get(status.node_id);
    // reports of one instant may arrive out of order over several hops: the later state wins
    if (!old || old.reported_at < status.reported_at || (old.reported_at === status.reported_at && STATE_ORDER[status.state] >= STATE_ORDER[old.state])) t.statuses.set(status.node_id, status);
    t.tracker.onStatus(status);
    this.decide(status.directive_id);
  }

  close(): void {
    this.agent.close();
    for (const id of [...this.tracked.keys()]) this.forget(id);
  }

  private decide(directiveId: string): void {
    const t = this.tracked.get(directiveId);
    if (!t || t.outcome) return;
    const outcome = t.tracker.decide(this.host.clock.now());
    if (!outcome) return;
    t.outcome = outcome;
    this.host.clock.clearTimeout(t.timer);
    this.host.logger.info('peat node: deployment decided', { node: this.host.id, directive: directiveId, success: outcome.success_percent, rollback: outcome.rollback !== null });
    this.options.onOutcome?.(directiveId, outcome);
    if (outcome.rollback) this.host.hierarchy.sendDown({ type: 'control', directive_id: directiveId, control: outcome.rollback });
  }

  private forget(directiveId: string): void {
    const t = this.tracked.get(directiveId);
    if (t) this.host.clock.clearTimeout(t.timer);
    this.tracked.delete(directiveId);
  }

  /** The nodes the issuer believes are in scope: listed nodes, or the members of a formation it has summaries of. */
  private believedTargets(d: DeploymentDirective): string[] {
    if (d.scope.type === 'nodes') return [...d.scope.node_ids];
    if (d.scope.type !== 'formation') return [];
    const h = this.host.hierarchy;
    const id = d.scope.formation_id;
    const squads = h.squads.fresh(h.zoneId, Number.POSITIVE_INFINITY).map((s) => s.summary as SquadSummary);
    if (id === h.zoneId || id === h.companyId || id === this.options.meshId) return [...new Set(squads.flatMap((s) => s.member_ids))];
    return squads.find((s) => s.squad_id === id)?.member_ids.slice() ?? [];
  }
}
