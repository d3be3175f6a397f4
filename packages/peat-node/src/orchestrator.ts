// SPDX-License-Identifier: Apache-2.0
// The node state machine (spec §1.1): one object per node runs discovery, bootstrap, the election, role
// assignment, the CellCoordinator, approval, degradation and recovery, driven by timers on an injected clock and
// by what it hears on its medium. Every transition is labelled (T1..T16) and logged, so tests and operators can
// see why a node is where it is.
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '@ecps/core';
import { silentLogger } from '@ecps/core';
import type { Logger } from '@ecps/core';
import { Health, PeatError, Phase } from '@ecps/peat';
import type { NodeConfig, NodeState, PeatReplica, Position } from '@ecps/peat';
import {
  BeaconTable,
  BootstrapCoordinator,
  CELL_GEOHASH_PRECISION,
  DEFAULT_CELL_SIZE,
  Election,
  LEADER_TIMEOUT_MS,
  assessCell,
  assignRoles,
  candidateScore,
  checkAssignment,
  decideApproval,
  geohashOf,
} from '@ecps/peat-cell';
import type { AssignmentOutcome, Beacon, BootstrapStatus, CellAssignment, CellRole, CellState, CellStatus, CoordinatorOptions, ElectionSettings, LeaderRecord } from '@ecps/peat-cell';
import { HierarchyMaintainer } from '@ecps/peat-hierarchy';
import { documentChannel, mediumChannel } from './cell-channel';
import type { CellInbox, CellOutbox, MergeCommit, MergeSupport } from './cell-channel';
import { DeploymentDriver } from './deployment-driver';
import type { NodeDeploymentOptions } from './deployment-driver';
import type { HierarchicalCommand } from './echelon-messages';
import { HierarchyDriver } from './hierarchy-driver';
import type { CellView, HierarchyOptions } from './hierarchy-driver';
import type { Envelope, NodeMedium, NodeMessage } from './medium';
import type { DeploymentDirective } from '@ecps/peat-deploy';

export type OrchestratorState = 'init' | 'discovering' | 'joining' | 'electing' | 'forming' | 'awaiting_approval' | 'operational' | 'degraded' | 'leaving' | 'stopped';

export interface Transition {
  readonly label: string;
  readonly from: OrchestratorState;
  readonly to: OrchestratorState;
  readonly at: number;
}

/** Timings (defaults from the specification). */
export interface OrchestratorTimings {
  readonly beaconIntervalMs: number;
  readonly tickMs: number;
  readonly statePublishMs: number;
  readonly joinDeadlineMs: number;
  readonly formationDeadlineMs: number;
  readonly degradedDeadlineMs: number;
  readonly bootstrapTimeoutMs: number;
}

export const DEFAULT_TIMINGS: OrchestratorTimings = {
  beaconIntervalMs: 5_000,
  tickMs: 1_000,
  statePublishMs: 2_000,
  joinDeadlineMs: 75_000,
  formationDeadlineMs: 60_000,
  degradedDeadlineMs: 60_000,
  bootstrapTimeoutMs: 60_000,
};

/** A degraded leader looks for a merge partner at most this often. */
const MERGE_RETRY_MS = 5_000;
/** The old cells of a merge are tombstoned this long after the merged cell is written, so members see the merge first. */
const MERGE_TOMBSTONE_DELAY_MS = 2_000;

export interface OrchestratorOptions {
  readonly config: NodeConfig;
  readonly position: Position;
  readonly clock: Clock;
  /** Where election messages (and, without a replica, all cell state) travel. */
  readonly medium: NodeMedium;
  /**
   * The node's @ecps/peat replica. With one, cell state lives in documents (`beacons`, `cells`, `node_configs`,
   * `node_states`) synced between authenticated peers with signed changes, and only the election's bus messages use
   * the medium (give it `peatMedium(transport)` so they too travel between authenticated peers). Without one, every
   * piece of cell state is a message on the medium.
   */
  readonly replica?: PeatReplica;
  /** Starting fuel (minutes) and health. Default 120, NOMINAL. */
  readonly fuelMinutes?: number;
  readonly health?: number;
  /** Largest cell proposed by discovery. Default 5. */
  readonly maxCellSize?: number;
  readonly election?: ElectionSettings;
  readonly coordinator?: CoordinatorOptions;
  readonly timings?: Partial<OrchestratorTimings>;
  /** Cell ids. Default random UUIDs. */
  readonly newId?: () => string;
  readonly logger?: Logger;
  readonly onTransition?: (t: Transition) => void;
  /** Phase 3: the zone and company of the node, summary windows, command and event handlers. */
  readonly hierarchy?: HierarchyOptions;
  /** Deployment directives: where artifacts come from and how they run. Without it, directives are ignored here. */
  readonly deployment?: NodeDeploymentOptions;
}

interface Cell {
  readonly id: string;
  members: string[];
  readonly configs: Map<string, NodeConfig>;
  readonly heard: Map<string, { state: NodeState; at: number }>;
  roles: Map<string, CellRole>;
  bootstrap: BootstrapCoordinator | null;
  joined: Set<string>;
  status: CellStatus | null;
  approval: { approved_by: string; approved_at: number } | null;
  election: Election;
  leader: LeaderRecord | null;
  leaderHeardAt: number;
  /** Joined a cell that had already formed (a directed assignment): wait for its leader's heartbeat until then (T4). */
  awaitLeaderUntil: number;
  bootstrapped: boolean;
  /** The last status a node heard, kept until it follows that node (a status can arrive before the election ends). */
  heardStatus: { from: string; status: CellStatus } | null;
}

/** One Peat node. */
export class NodeOrchestrator {
  private _state: OrchestratorState = 'init';
  private readonly log: Transition[] = [];
  private readonly beacons = new BeaconTable();
  private readonly timings: OrchestratorTimings;
  private readonly timers = new Set<TimerHandle>();
  private send: ((m: NodeMessage) => void) | null = null;
  private out: (CellOutbox & { close?(): void }) | null = null;
  private receiveState: ((from: string, m: NodeMessage) => boolean) | null = null;
  /** The `cells` documents, for merges (with a replica only). */
  private merger: MergeSupport | null = null;
  private nextMergeAttempt = 0;
  private cell: Cell | null = null;
  private fuel: number;
  private health: number;
  private joinDeadline = 0;
  private formationDeadline = 0;
  private degradedDeadline = 0;
  private readonly logger: Logger;
  /** Cells this node left: their documents no longer propose it anything. */
  private readonly left = new Set<string>();
  /** Phase 3: zones, summaries, commands and events (driven once the cell is operational). */
  readonly hierarchy: HierarchyDriver;
  /** Deployment directives (with `deployment` options). */
  readonly deployments: DeploymentDriver | null;

  constructor(private readonly options: OrchestratorOptions) {
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.fuel = options.fuelMinutes ?? 120;
    this.health = options.health ?? Health.NOMINAL;
    this.logger = options.logger ?? silentLogger;
    this.hierarchy = new HierarchyDriver(
      { id: options.config.id, clock: options.clock, position: options.position, logger: this.logger, send: (m) => this.send?.(m), cell: () => this.cellView() },
      options.hierarchy,
    );
    this.deployments = options.deployment
      ? new DeploymentDriver({ id: options.config.id, clock: options.clock, config: options.config, logger: this.logger, hierarchy: this.hierarchy, cellId: () => this.cellView()?.cellId ?? null }, options.deployment)
      : null;
  }

  get id(): string {
    return this.options.config.id;
  }
  get state(): OrchestratorState {
    return this._state;
  }
  get transitions(): readonly Transition[] {
    return this.log;
  }
  get cellId(): string | null {
    return this.cell?.id ?? null;
  }
  get leader(): LeaderRecord | null {
    return this.cell?.leader ?? null;
  }
  get role(): CellRole | null {
    return this.cell?.roles.get(this.id) ?? null;
  }
  /** The CellCoordinator status last decided by the leader (as this node heard it). */
  get cellStatus(): CellStatus | null {
    return this.cell?.status ?? null;
  }

  /** T1: attach to the medium and start beaconing. */
  start(): void {
    if (this._state !== 'init') return;
    this.send = this.options.medium.attach(this.id, (e) => this.receive(e));
    const inbox = this.inbox();
    if (this.options.replica) {
      if (this.options.replica.nodeId !== this.id) throw new PeatError('INVALID_ARGUMENT', `replica ${this.options.replica.nodeId} is not node ${this.id}`);
      const channel = documentChannel({ replica: this.options.replica, inbox, now: () => this.now(), logger: this.logger });
      this.out = channel;
      this.merger = channel;
    } else {
      const channel = mediumChannel((m) => this.send?.(m));
      this.out = channel;
      this.receiveState = (from, m) => channel.receive(from, m, inbox);
    }
    this.move('T1', 'discovering');
    this.hierarchy.start();
    this.every(this.timings.beaconIntervalMs, () => this.beacon());
    this.every(this.timings.tickMs, () => this.tick());
    this.every(this.timings.statePublishMs, () => this.publishState());
    this.beacon();
  }

  /**
   * Sends a command down from this node (a cell, zone or company leader) to the nodes below it.
   * @throws PeatError `CONFLICT` when this node leads nothing.
   */
  command(command: HierarchicalCommand): void {
    this.hierarchy.sendDown({ type: 'command', command });
  }

  /**
   * Issues a deployment directive down this node's hierarchy and tracks it (statuses come back up; below the
   * success threshold the node sends the rollback down). @throws PeatError `UNSUPPORTED` without
   * `deployment` options, `INVALID_ARGUMENT` for a directive issued by another node, `CONFLICT` when this node leads nothing.
   */
  deploy(directive: DeploymentDirective): void {
    if (!this.deployments) throw new PeatError('UNSUPPORTED', `node ${this.id} has no deployment options`);
    this.deployments.deploy(directive);
  }

  /** What the hierarchy sees of this node's cell: null until it has a leader and is operational (or degraded). */
  private cellView(): CellView | null {
    const cell = this.cell;
    if (!cell?.leader || (this._state !== 'operational' && this._state !== 'degraded')) return null;
    return {
      cellId: cell.id,
      leaderId: cell.leader.node_id,
      memberIds: cell.members,
      sources: () =>
        cell.members.flatMap((m) => {
          const heard = cell.heard.get(m);
          const config = cell.configs.get(m);
          return heard && config ? [{ node_id: m, state: heard.state, config }] : [];
        }),
    };
  }

  /** T16: leave the cell and stop. */
  stop(): void {
    if (this._state === 'stopped') return;
    this.move('T16', 'leaving');
    if (this.cell) {
      this.send?.({ kind: 'bus', cell_id: this.cell.id, payload: { type: 'Leave', platform_id: this.id, reason: 'shutdown' } });
      this.out?.leave(this.cell.id);
    }
    this.halt();
    this.move('T16', 'stopped');
  }

  /** Simulates a crash: every timer stops and nothing more is sent (no Leave). */
  crash(): void {
    this.halt();
    this._state = 'stopped';
  }

  setHealth(health: number): void {
    this.health = health;
  }
  setFuel(minutes: number): void {
    this.fuel = minutes;
  }

  /**
   * A human's decision on a cell AwaitingApproval (on the leader). Approve → Ready on the next check; reject →
   * the cell is disbanded. @throws PeatError `CONFLICT` outside AwaitingApproval, `PERMISSION_DENIED` without ApproveFormation.
   */
  decide(approve: boolean, by: string, canApproveFormation = true): void {
    const cell = this.cell;
    const approval = decideApproval(cell?.status ?? { type: 'Forming' }, { approve, by, at: this.options.clock.now(), canApproveFormation });
    if (!cell) return;
    if (approval) {
      cell.approval = approval;
      this.coordinate();
    } else {
      this.out?.disband(cell.id);
      this.toDiscovery('T9');
    }
  }

  /**
   * A directed assignment from C2 (T2 a). Checked in the specification's order (Invalid, Unauthorized, Expired,
   * SquadNotFound, SquadFull, PlatformAlreadyAssigned); on acceptance the node joins the cell, following its
   * leader (T4) if it has one. The cell is looked up in the replica's `cells` documents (without a replica only
   * the node's own cell is known). Never throws for a rejected assignment: the outcome says why.
   */
  async acceptAssignment(assignment: CellAssignment, issuerIsCommander: boolean): Promise<AssignmentOutcome> {
    const doc = this.options.replica ? await this.options.replica.get<{ members?: Record<string, unknown>; config?: { max_size?: number }; bootstrap_status?: BootstrapStatus }>('cells', assignment.squad_id) : undefined;
    const own = this.cell?.id === assignment.squad_id ? { members: this.cell.members, max_size: this.options.maxCellSize ?? DEFAULT_CELL_SIZE } : undefined;
    const known = doc ? { members: Object.keys(doc.members ?? {}), max_size: doc.config?.max_size ?? DEFAULT_CELL_SIZE } : own;
    const outcome = checkAssignment(assignment, { nodeId: this.id, now: this.now(), cell: () => known, currentCell: this.cell?.id ?? null, issuerIsCommander });
    if (outcome.type !== 'accepted' || this._state !== 'discovering') return outcome;
    const cell = this.enterCell(assignment.squad_id, outcome.members);
    cell.awaitLeaderUntil = this.now() + LEADER_TIMEOUT_MS;
    this.join(cell, 'T2');
    if (doc?.bootstrap_status === 'Completed' || doc?.bootstrap_status === 'PartiallyCompleted') this.onBootstrapResult(doc.bootstrap_status, outcome.members);
    return outcome;
  }

  // ---- timers ----

  private every(ms: number, fn: () => void): void {
    const arm = () => {
      const h = this.options.clock.setTimeout(() => {
        this.timers.delete(h);
        if (this._state === 'stopped') return;
        fn();
        arm();
      }, ms);
      this.timers.add(h);
    };
    arm();
  }

  private halt(): void {
    for (const t of this.timers) this.options.clock.clearTimeout(t);
    this.timers.clear();
    this.hierarchy.stop();
    this.deployments?.close();
    this.cell?.election.close();
    this.options.medium.detach(this.id);
    this.out?.close?.();
  }

  private now(): number {
    return this.options.clock.now();
  }

  private nodeState(): NodeState {
    const phase = this._state === 'discovering' || this._state === 'joining' ? Phase.DISCOVERY : this._state === 'operational' || this._state === 'degraded' ? Phase.HIERARCHY : Phase.CELL;
    return { position: this.options.position, fuel_minutes: this.fuel, health: this.health, phase, cell_id: this.cell?.id ?? null, zone_id: phase === Phase.HIERARCHY ? this.hierarchy.zoneId : null, timestamp: this.now() };
  }

  private beacon(): void {
    const p = this.options.position;
    const b: Beacon = {
      platform_id: this.id,
      position: { lat: p.latitude, lon: p.longitude, alt: p.altitude },
      geohash_cell: geohashOf(p, CELL_GEOHASH_PRECISION),
      operational: this.health !== Health.FAILED && this.fuel > 0,
      timestamp: this.now(),
      capabilities: this.options.config.capabilities.map((c) => c.id),
      hierarchy_level: 0,
      mobility: 'Mobile' as const,
      resources: { cpu_usage_percent: 0, memory_usage_percent: 0, battery_percent: null },
      can_parent: true,
      parent_priority: 128,
    };
    this.beacons.upsert(b);
    if (this._state === 'discovering') this.out?.beacon(b);
  }

  private publishState(): void {
    if (!this.cell || this._state === 'joining') return;
    const state = this.nodeState();
    this.cell.heard.set(this.id, { state, at: this.now() });
    this.out?.state(this.cell.id, state);
  }

  private tick(): void {
    const now = this.now();
    this.beacons.sweep(now);
    switch (this._state) {
      case 'discovering':
        return this.discover();
      case 'joining':
        if (this.cell?.bootstrap) this.finishBootstrap();
        if (this.cell?.bootstrapped && now >= this.cell.awaitLeaderUntil) this.afterBootstrap();
        if (this._state === 'joining' && now > this.joinDeadline) this.toDiscovery('T5');
        return;
      case 'forming':
      case 'awaiting_approval':
      case 'operational':
      case 'degraded':
        if (this.cell?.leader?.node_id === this.id) this.coordinate();
        if (this._state === 'degraded' && this.cell?.leader?.node_id === this.id && this.merger && now >= this.nextMergeAttempt) {
          this.nextMergeAttempt = now + MERGE_RETRY_MS;
          void this.requestMerge(this.merger).catch((error: unknown) => this.logger.warn('peat node: merge failed', { node: this.id, error: String(error) }));
        }
        if (this._state === 'degraded' && now > this.degradedDeadline) this.toDiscovery('T15');
        else if ((this._state === 'forming' || this._state === 'awaiting_approval') && now > this.formationDeadline && this.cell?.status?.type === 'Failed') {
          if (this.cell.leader?.node_id === this.id) this.out?.disband(this.cell.id);
          this.toDiscovery('T10');
        }
        return;
      default:
        return;
    }
  }

  // ---- phase 1 ----

  private discover(): void {
    const mine = this.beacons.get(this.id);
    if (!mine) return;
    const cluster = this.beacons.clusters(this.now(), { maxSize: this.options.maxCellSize ?? DEFAULT_CELL_SIZE }).find((c) => c.members.includes(this.id));
    if (!cluster?.formable || cluster.initiator !== this.id || !cluster.proposed.includes(this.id)) return;
    // T2 (c): we initiate
    const cell = this.enterCell((this.options.newId ?? randomUUID)(), cluster.proposed);
    cell.bootstrap = new BootstrapCoordinator({ strategy: 'geographic', timeoutMs: this.timings.bootstrapTimeoutMs });
    cell.bootstrap.start(cluster.proposed, this.now());
    this.out?.propose(cell.id, cluster.proposed, this.options.maxCellSize ?? DEFAULT_CELL_SIZE);
    this.join(cell, 'T2');
  }

  private enterCell(id: string, members: readonly string[]): Cell {
    this.cell?.election.close();
    const election = new Election({
      nodeId: this.id,
      clock: this.options.clock,
      self: () => candidateScore(this.id, this.options.config, { fuel_minutes: this.fuel, health: this.health, phase: Phase.CELL }, this.options.election),
      broadcast: (payload) => {
        // our own candidacy outside phase 1: an election started (our timer, or a peer's higher round) → T11
        if (payload.type === 'Candidacy' && (this._state === 'operational' || this._state === 'degraded' || this._state === 'forming' || this._state === 'awaiting_approval')) this.move('T11', 'electing');
        this.send?.({ kind: 'bus', cell_id: id, payload });
      },
      onLeader: (leader, deputy) => this.onLeader(leader, deputy),
    });
    this.cell = { id, members: [...members], configs: new Map(), heard: new Map(), roles: new Map(), bootstrap: null, joined: new Set(), status: null, approval: null, election, leader: null, leaderHeardAt: 0, awaitLeaderUntil: 0, bootstrapped: false, heardStatus: null };
    return this.cell;
  }

  private join(cell: Cell, label: string): void {
    cell.configs.set(this.id, this.options.config);
    this.joinDeadline = this.now() + this.timings.joinDeadlineMs;
    this.move(label, 'joining');
    this.out?.join(cell.id, this.options.config);
    this.onJoin(cell, this.id);
  }

  private onJoin(cell: Cell, from: string): void {
    if (!cell.bootstrap || cell.bootstrap.status !== 'InProgress') return;
    cell.joined.add(from);
    cell.bootstrap.markAssigned(from);
    this.finishBootstrap();
  }

  /** The initiator publishes the bootstrap result once it leaves InProgress. */
  private finishBootstrap(): void {
    const cell = this.cell!;
    const b = cell.bootstrap!;
    const status = b.tick(this.now());
    if (status === 'InProgress' || status === 'NotStarted') return;
    const members = cell.members.filter((m) => cell.joined.has(m));
    cell.bootstrap = null;
    this.out?.bootstrap(cell.id, status, members);
    this.onBootstrapResult(status, members);
  }

  private onBootstrapResult(status: BootstrapStatus, members: readonly string[]): void {
    const cell = this.cell!;
    if (cell.bootstrapped) return;
    if (status === 'Failed' || !members.includes(this.id)) return this.toDiscovery('T5');
    cell.members = [...members];
    cell.bootstrapped = true;
    this.afterBootstrap();
  }

  /** T4 when a live leader exists (or, for a node assigned to a formed cell, once its heartbeat arrives); else T3. */
  private afterBootstrap(): void {
    const cell = this.cell!;
    if (this._state !== 'joining') return;
    const liveLeader = cell.leader !== null && this.now() - cell.leaderHeardAt < LEADER_TIMEOUT_MS;
    if (!liveLeader && this.now() < cell.awaitLeaderUntil) return;
    this.formationDeadline = this.now() + this.timings.formationDeadlineMs;
    if (liveLeader) {
      this.move('T4', 'forming');
      this.publishState();
      this.followStatus(cell);
      return;
    }
    this.move('T3', 'electing');
    this.publishState();
    cell.election.startElection('normal');
  }

  // ---- phase 2 ----

  private onLeader(leader: LeaderRecord | null, deputy: string | null): void {
    const cell = this.cell;
    if (!cell) return;
    cell.leader = leader;
    if (leader === null) {
      if (this._state === 'operational' || this._state === 'degraded' || this._state === 'forming' || this._state === 'awaiting_approval') this.move('T11', 'electing');
      return;
    }
    cell.leaderHeardAt = this.now();
    if (this._state === 'joining' && cell.bootstrapped) this.afterBootstrap();
    if (this._state === 'electing') this.move('T6', 'forming');
    this.followStatus(cell);
    if (leader.node_id === this.id) {
      this.out?.leader(cell.id, leader, deputy);
      cell.status = null;
      cell.approval = null;
      this.assign();
      this.coordinate();
    }
  }

  private assign(): void {
    const cell = this.cell!;
    const members = new Map([...cell.configs].filter(([id]) => cell.members.includes(id)).map(([id, config]) => [id, { config, state: { health: this.healthOf(id) } }]));
    const roles = assignRoles(members, this.id);
    cell.roles = new Map([...roles].map(([id, r]) => [id, r.role]));
    this.out?.roles(cell.id, Object.fromEntries(roles));
  }

  private healthOf(id: string): number {
    return id === this.id ? this.health : (this.cell?.heard.get(id)?.state.health ?? Health.NOMINAL);
  }

  /** The leader runs the CellCoordinator over the members it has heard from in the last 6 s. */
  private coordinate(): void {
    const cell = this.cell;
    if (!cell || cell.leader?.node_id !== this.id) return;
    const now = this.now();
    cell.heard.set(this.id, { state: this.nodeState(), at: now });
    const live = cell.members.filter((m) => {
      const h = cell.heard.get(m);
      return h !== undefined && now - h.at <= LEADER_TIMEOUT_MS && cell.configs.has(m);
    });
    if (live.some((m) => !cell.roles.has(m))) this.assign();
    const state: CellState = {
      cell_id: cell.id,
      max_size: this.options.maxCellSize ?? DEFAULT_CELL_SIZE,
      members: new Map(live.map((m) => [m, { node_id: m, config: cell.configs.get(m)!, state: cell.heard.get(m)!.state, role: cell.roles.get(m) ?? null }])),
      leader: cell.leader,
      approval: cell.approval,
    };
    const { status } = assessCell(state, this.options.coordinator);
    const changed = JSON.stringify(status) !== JSON.stringify(cell.status);
    this.applyStatus(status);
    if (changed) this.out?.status(cell.id, status, cell.members, cell.approval);
  }

  private applyStatus(status: CellStatus): void {
    const cell = this.cell!;
    cell.status = status;
    switch (status.type) {
      case 'Ready':
        if (this._state === 'forming') this.move('T7', 'operational');
        else if (this._state === 'awaiting_approval') this.move('T9', 'operational');
        else if (this._state === 'degraded') this.move('T13', 'operational');
        return;
      case 'AwaitingApproval':
        if (this._state === 'forming') this.move('T8', 'awaiting_approval');
        return;
      case 'Failed':
        if (this._state === 'operational') {
          this.degradedDeadline = this.now() + this.timings.degradedDeadlineMs;
          this.move('T12', 'degraded');
        }
        return;
      default:
        return;
    }
  }

  /**
   * The leader of a cell degraded below its minimum size merges it with the best-fit other cell it knows (§5.1):
   * a new cell of both cells' live members, written Completed, the two old cells tombstoned shortly after.
   */
  private async requestMerge(merger: MergeSupport): Promise<void> {
    const cell = this.cell!;
    const now = this.now();
    const live = cell.members.filter((m) => m === this.id || (cell.heard.get(m) !== undefined && now - cell.heard.get(m)!.at <= LEADER_TIMEOUT_MS));
    const maxSize = this.options.maxCellSize ?? DEFAULT_CELL_SIZE;
    const maintainer = new HierarchyMaintainer(this.options.coordinator?.minSize ?? 3, Math.max(maxSize, (this.options.coordinator?.minSize ?? 3) + 1), 2, 8, this.options.newId ?? randomUUID);
    const small = { cell_id: cell.id, members: live, max_size: maxSize, capabilities: [], leader: this.id, platoon_id: null, timestamp: now };
    if (maintainer.needsRebalance(small) !== 'Merge') return;
    const others = (await merger.cells()).filter((c) => c.cell_id !== cell.id && !this.left.has(c.cell_id)).map((c) => ({ ...c, capabilities: [], leader: null, platoon_id: null }));
    const partner = maintainer.mergeCandidate(small, others);
    if (!partner || this.cell !== cell || this._state !== 'degraded') return;
    const merged = maintainer.merge(small, partner);
    const commit: MergeCommit = { cellId: merged.cell_id, mergedFrom: [cell.id, partner.cell_id], members: merged.members, maxSize: merged.max_size };
    this.logger.info('peat node: merging cells', { node: this.id, ...commit });
    merger.commitMerge(commit, (fn) => void this.options.clock.setTimeout(fn, MERGE_TOMBSTONE_DELAY_MS));
    this.adoptMerge(commit);
  }

  /** T14: a merge that took this node's cell committed; join the new cell (complete from the start) and elect. */
  private adoptMerge(commit: MergeCommit): void {
    const old = this.cell;
    if (!old || !commit.mergedFrom.includes(old.id) || !commit.members.includes(this.id)) return;
    if (this._state !== 'degraded' && this._state !== 'operational' && this._state !== 'forming' && this._state !== 'awaiting_approval') return;
    this.left.add(old.id);
    const cell = this.enterCell(commit.cellId, commit.members);
    this.join(cell, 'T14');
    this.onBootstrapResult('Completed', commit.members);
  }

  /** A follower applies the status its leader decided, once it follows that leader in phase 2. */
  private followStatus(cell: Cell): void {
    const heard = cell.heardStatus;
    if (!heard || heard.from !== cell.leader?.node_id || heard.from === this.id || this._state === 'joining' || this._state === 'electing') return;
    this.applyStatus(heard.status);
  }

  private toDiscovery(label: string): void {
    if (this.cell) {
      this.left.add(this.cell.id);
      this.out?.leave(this.cell.id);
    }
    this.cell?.election.close();
    this.cell = null;
    this.move(label, 'discovering');
  }

  // ---- receiving ----

  private receive({ from, message: m }: Envelope): void {
    if (this._state === 'stopped' || this._state === 'init') return;
    if (this.hierarchy.receive(from, m)) return;
    if (m.kind !== 'bus') {
      this.receiveState?.(from, m);
      return;
    }
    const cell = this.cell;
    if (!cell || m.cell_id !== cell.id || !cell.members.includes(from)) return;
    if (from === cell.leader?.node_id) cell.leaderHeardAt = this.now();
    cell.election.handle(m.payload);
  }

  /** What the node does with the cell state it hears (from messages or documents). */
  private inbox(): CellInbox {
    const mine = (cellId: string) => (this._state !== 'stopped' && this.cell?.id === cellId ? this.cell : null);
    return {
      beacon: (b) => this.beacons.upsert(b),
      proposed: (_from, cellId, members) => {
        if (this._state === 'discovering' && members.includes(this.id) && !this.left.has(cellId)) this.join(this.enterCell(cellId, members), 'T2');
      },
      joined: (from, cellId, config) => {
        const cell = mine(cellId);
        if (!cell) return;
        cell.configs.set(from, config);
        if (cell.bootstrapped && !cell.members.includes(from)) cell.members = [...cell.members, from].sort(); // joined a formed cell (T2 a)
        this.onJoin(cell, from);
      },
      bootstrapped: (cellId, status, members) => {
        if (mine(cellId) && this._state === 'joining') this.onBootstrapResult(status, members);
      },
      roles: (cellId, roles) => {
        const cell = mine(cellId);
        if (cell) cell.roles = new Map(Object.entries(roles));
      },
      status: (from, cellId, status) => {
        const cell = mine(cellId);
        if (!cell || from === this.id) return;
        cell.heardStatus = { from, status };
        this.followStatus(cell);
      },
      state: (from, cellId, state) => {
        mine(cellId)?.heard.set(from, { state, at: this.now() });
      },
      merged: (commit) => this.adoptMerge(commit),
      disbanded: (from, cellId) => {
        const cell = mine(cellId);
        if (cell && (from === cell.leader?.node_id || from === cell.members[0])) this.toDiscovery(this._state === 'awaiting_approval' ? 'T9' : 'T10');
      },
    };
  }

  private move(label: string, to: OrchestratorState): void {
    const t: Transition = { label, from: this._state, to, at: this.now() };
    if (t.from === to) return;
    this._state = to;
    this.log.push(t);
    this.logger.debug('peat node transition', { node: this.id, ...t });
    this.options.onTransition?.(t);
  }
}
