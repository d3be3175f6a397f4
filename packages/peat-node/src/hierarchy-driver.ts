// SPDX-License-Identifier: Apache-2.0
// Phase 3 of the node (spec §5), driven once the node's cell has a leader: the cell leader summarises its
// members (with the capabilities they compose) and publishes the squad summary to its zone as deltas; the cell
// leaders of a zone hear each other's summaries, which give them the zone's routing table and its leader (the best
// quantized readiness, then the greatest id); the zone leader summarises the squads into the platoon summary and,
// in a company, publishes it one level up, where the company leader is chosen the same way. Commands and
// deployment items go down hop by hop (priority first, rate-limited); events and deployment statuses go up hop by
// hop (Summary events per window, critical first, the rest by weighted fair queueing). Every timer is on the
// host's clock; `stop` cancels them and nothing is scheduled again until `start`.
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { PeatError } from '@ecps/peat';
import type { NodeConfig, Position } from '@ecps/peat';
import { geohashOf } from '@ecps/peat-cell';
import { CELL_FLOW, EventAggregator, FlowController, RoutingTable, SOURCE_STALE_MS, WeightedFairQueue, ZONE_FLOW, companySummary, platoonSummary } from '@ecps/peat-hierarchy';
import type { CompanySummary, EventSummary, PeatEvent, PlatoonSummary, SquadSource, SquadSummary } from '@ecps/peat-hierarchy';
import { commandIsFor, downKey, downPriority, readDownItem, readUpItem, upPriority } from './echelon-messages';
import type { DownItem, HierarchicalCommand, UpItem } from './echelon-messages';
import { cellSquadSummary, pickLeader, summaryOrNull } from './echelon-summaries';
import type { NodeMessage } from './medium';
import { SummaryInbox, SummaryPublisher } from './summary-link';
import type { AnySummary, Echelon } from './summary-link';

/** How a node takes part in the hierarchy. */
export interface HierarchyOptions {
  /** The zone (platoon) of this node's cell, as a C2 zone assignment gives it. Default `zone-<precision-5 geohash>`. */
  readonly zoneId?: string;
  /** The company of its zone; without one the zone leader is the top of the hierarchy. */
  readonly companyId?: string;
  /** Summary window: a summary is published at most once per window, and only on change. Default 1,000 ms. */
  readonly summaryWindowMs?: number;
  /** An unchanged summary is re-sent (as a delta of its aggregation time only) this often, so receivers know it is live. Default 2,000 ms. */
  readonly keepaliveMs?: number;
  /** Flow rounds (downward queue drain, upward fair-queue round). Default 100 ms. */
  readonly roundMs?: number;
  /** Upward budget. Default 125,000 B/s (1 Mbps). */
  readonly uplinkBytesPerSecond?: number;
  /** Summary-mode event window per event type. Default 1,000 ms. */
  readonly eventWindowMs?: (eventType: string) => number;
  /** A command that targets this node arrived. */
  readonly onCommand?: (command: HierarchicalCommand) => void;
  /** An event (or a window's summary of events) reached the top of the hierarchy, here. */
  readonly onEvent?: (event: PeatEvent | EventSummary) => void;
}

/** What the driver needs to know about the node's cell (null until the cell has a leader and is operational). */
export interface CellView {
  readonly cellId: string;
  readonly leaderId: string;
  readonly memberIds: readonly string[];
  /** The members as the leader last heard them (the leader only). */
  readonly sources: () => readonly (SquadSource & { readonly config: NodeConfig })[];
}

export interface HierarchyHost {
  readonly id: string;
  readonly clock: Clock;
  readonly position: Position;
  readonly logger: Logger;
  send(message: NodeMessage): void;
  cell(): CellView | null;
}

/** Where deployment items meet the hierarchy (the deployment driver). */
export interface DeploymentPort {
  /** A directive or control reached this node. */
  down(item: Exclude<DownItem, { type: 'command' }>): void;
  /** A status reached the top of the hierarchy (or passed through a node): the issuer picks up its own. */
  status(item: Extract<UpItem, { type: 'status' }>['status']): void;
}

export interface HierarchyStats {
  summariesSent: number;
  snapshotsSent: number;
  upSent: number;
  downSent: number;
  /** Messages refused by the routing rules (wrong hop or sender), or malformed. */
  refused: number;
  /** Up items dropped by the fair queue when full, and down items by the flow controller. */
  dropped: number;
}

/** Down items remembered to drop repeats. */
const SEEN_LIMIT = 1_024;

export class HierarchyDriver {
  readonly zoneId: string;
  readonly companyId: string | null;
  readonly routing = new RoutingTable();
  readonly stats: HierarchyStats = { summariesSent: 0, snapshotsSent: 0, upSent: 0, downSent: 0, refused: 0, dropped: 0 };
  readonly squads: SummaryInbox;
  readonly platoons: SummaryInbox;
  private readonly publishers = new Map<string, SummaryPublisher>();
  private readonly lastSent = new Map<string, number>();
  private readonly aggregator: EventAggregator;
  private readonly upQueue = new WeightedFairQueue<UpItem>();
  private readonly cellFlow: FlowController<NodeMessage>;
  private readonly zoneFlow: FlowController<NodeMessage>;
  private readonly seen = new Set<string>();
  private running = false;
  private windowTimer: TimerHandle | null = null;
  private round: TimerHandle | null = null;
  private deployment: DeploymentPort | null = null;
  private squad: SquadSummary | null = null;
  private platoon: PlatoonSummary | null = null;
  private company: CompanySummary | null = null;
  private readonly windowMs: number;

  constructor(
    private readonly host: HierarchyHost,
    private readonly options: HierarchyOptions = {},
  ) {
    this.zoneId = options.zoneId ?? `zone-${geohashOf(host.position, 5)}`;
    this.companyId = options.companyId ?? null;
    this.windowMs = options.summaryWindowMs ?? 1_000;
    const ask = (level: Echelon) => (publisher: string, id: string) => host.send({ kind: 'snapshot_request', to: publisher, level, id });
    this.squads = new SummaryInbox('squad', host.clock, ask('squad'));
    this.platoons = new SummaryInbox('platoon', host.clock, ask('platoon'));
    this.aggregator = new EventAggregator(options.eventWindowMs ? { windowMs: options.eventWindowMs } : {});
    this.cellFlow = new FlowController(CELL_FLOW, host.clock.now());
    this.zoneFlow = new FlowController(ZONE_FLOW, host.clock.now());
  }

  /** Starts the summary window, and the flow rounds for anything queued before. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.armWindow();
    this.schedule();
  }

  /** Cancels every timer; queued items wait for the next `start`. Idempotent. */
  stop(): void {
    this.running = false;
    for (const t of [this.windowTimer, this.round]) if (t !== null) this.host.clock.clearTimeout(t);
    this.windowTimer = null;
    this.round = null;
  }

  attachDeployment(port: DeploymentPort): void {
    this.deployment = port;
  }

  /** The last squad, platoon and company summaries this node computed (as a leader of that echelon). */
  get squadSummary(): SquadSummary | null {
    return this.squad;
  }
  get platoonSummary(): PlatoonSummary | null {
    return this.platoon;
  }
  get companySummary(): CompanySummary | null {
    return this.company;
  }

  /** The zone's leader as this node knows it (cell leaders only). */
  zoneLeader(): string | null {
    return pickLeader(this.squads.fresh(this.zoneId, SOURCE_STALE_MS).map((s) => s.summary));
  }

  companyLeader(): string | null {
    return this.companyId === null ? null : pickLeader(this.platoons.fresh(this.companyId, SOURCE_STALE_MS).map((s) => s.summary));
  }

  /** 1 cell leader, 2 zone leader, 3 company leader, 0 otherwise. */
  echelon(): number {
    const cell = this.host.cell();
    if (!cell || cell.leaderId !== this.host.id) return 0;
    if (this.zoneLeader() !== this.host.id) return 1;
    return this.companyId !== null && this.companyLeader() === this.host.id ? 3 : 2;
  }

  /**
   * Sends a command (or a deployment item) down from this node's echelon, and handles it here too.
   * @throws PeatError `CONFLICT` when this node leads nothing.
   */
  sendDown(item: DownItem): void {
    const level = this.echelon();
    const cell = this.host.cell();
    if (level === 0 || !cell) throw new PeatError('CONFLICT', `${this.host.id} leads no cell, zone or company: it cannot send down`);
    this.remember(downKey(item));
    this.deliver(item);
    this.sendFrom(level === 3 ? `company:${this.companyId}` : level === 2 ? `zone:${this.zoneId}` : `cell:${cell.cellId}`, item);
  }

  /**
   * Raises an event here: it goes up by its mode (Full now, Summary per window; Query and Local stay).
   * @throws PeatError `INVALID_ARGUMENT` for an event without its fields (type, source, priority, mode, time).
   */
  raise(event: PeatEvent): void {
    if (!readUpItem({ type: 'event', event })) throw new PeatError('INVALID_ARGUMENT', 'not a Peat event (event_type, source, priority, mode, timestamp)');
    for (const x of this.aggregator.submit(event)) this.enqueueUp('mode' in x ? { type: 'event', event: x } : { type: 'event_summary', summary: x });
  }

  /** Sends an item up (the deployment driver's statuses). @throws PeatError `INVALID_ARGUMENT` for a malformed item. */
  sendUp(item: UpItem): void {
    if (!readUpItem(item)) throw new PeatError('INVALID_ARGUMENT', `not an up item: ${String((item as { type?: unknown } | null)?.type)}`);
    this.enqueueUp(item);
  }

  /** Handles a hierarchy message; false when it is not one. */
  receive(from: string, m: NodeMessage): boolean {
    switch (m.kind) {
      case 'summary':
        if (!m.delta || typeof m.delta.id !== 'string' || !Number.isSafeInteger(m.delta.sequence) || !Array.isArray(m.delta.updates)) return this.malformed();
        this.inboxFor(m.level, m.group)?.onDelta(from, m.group, m.delta);
        this.learnRoutes();
        return true;
      case 'snapshot':
        if (!Number.isSafeInteger(m.sequence) || typeof m.summary !== 'object' || m.summary === null) return this.malformed();
        this.inboxFor(m.level, m.group)?.onSnapshot(from, m.group, m.sequence, m.summary);
        this.learnRoutes();
        return true;
      case 'snapshot_request': {
        if (m.to !== this.host.id) return true;
        const snap = this.publishers.get(`${m.level}:${m.id}`)?.snapshot();
        const group = m.level === 'squad' ? this.zoneId : this.companyId;
        if (snap && group !== null) {
          this.stats.snapshotsSent++;
          this.host.send({ kind: 'snapshot', level: m.level, group, sequence: snap.sequence, summary: snap.summary });
        }
        return true;
      }
      case 'down': {
        const item = readDownItem(m.item);
        if (typeof m.to !== 'string' || !item) return this.malformed();
        if (this.acceptsDown(from, m.to)) this.onDown(m.to, item);
        return true;
      }
      case 'up': {
        const item = readUpItem(m.item);
        if (typeof m.to !== 'string' || !item) return this.malformed();
        if (!this.acceptsUp(from, m.to)) return true;
        if (item.type === 'event') this.raise(item.event);
        else this.enqueueUp(item);
        return true;
      }
      default:
        return false;
    }
  }

  // ---- summaries ----

  private armWindow(): void {
    this.windowTimer = this.host.clock.setTimeout(() => {
      this.windowTimer = null;
      try {
        this.window();
      } catch (error) {
        // a fault in one window's summaries must not end the windows (nor throw out of a timer)
        this.host.logger.error('peat node: summary window failed', { node: this.host.id, error: String(error) });
      }
      if (this.running) this.armWindow();
    }, this.windowMs);
  }

  /** One summary window: closed event windows go up; each echelon this node leads publishes its summary. */
  private window(): void {
    const now = this.host.clock.now();
    for (const s of this.aggregator.flush(now)) this.enqueueUp({ type: 'event_summary', summary: s });
    const cell = this.host.cell();
    if (!cell || cell.leaderId !== this.host.id) return;
    // null: no operational, fresh member (or child summary) to summarise this window
    const squad = cellSquadSummary(cell.cellId, this.host.id, cell.sources(), now);
    if (!squad) return;
    this.squad = squad;
    this.publish('squad', cell.cellId, this.zoneId, squad, this.squads);
    if (this.zoneLeader() !== this.host.id) return;
    const squads = this.squads.fresh(this.zoneId, SOURCE_STALE_MS).map((s) => s.summary as SquadSummary);
    const platoon = summaryOrNull(() => platoonSummary(this.zoneId, this.host.id, squads, { now }));
    if (!platoon) return;
    this.platoon = platoon;
    if (this.companyId === null) return;
    this.publish('platoon', this.zoneId, this.companyId, platoon, this.platoons);
    if (this.companyLeader() !== this.host.id) return;
    const platoons = this.platoons.fresh(this.companyId, SOURCE_STALE_MS).map((s) => s.summary as PlatoonSummary);
    this.company = summaryOrNull(() => companySummary(this.companyId!, this.host.id, platoons, { now })) ?? this.company;
  }

  /** Sends the delta of `summary` if something changed this window, or its aggregation time when it is due as a keepalive. */
  private publish(level: Echelon, id: string, group: string, summary: AnySummary, own: SummaryInbox): void {
    const key = `${level}:${id}`;
    let pub = this.publishers.get(key);
    if (!pub) {
      pub = new SummaryPublisher(level, id);
      this.publishers.set(key, pub);
    }
    const now = this.host.clock.now();
    const keepalive = now - (this.lastSent.get(key) ?? -Infinity) >= (this.options.keepaliveMs ?? 2_000);
    const delta = pub.next(summary, now, keepalive);
    if (!delta) return;
    this.lastSent.set(key, now);
    own.own(group, delta.sequence, summary, this.host.id);
    this.stats.summariesSent++;
    this.host.send({ kind: 'summary', level, group, delta });
    this.learnRoutes();
  }

  private inboxFor(level: Echelon, group: string): SummaryInbox | null {
    const cell = this.host.cell();
    if (!cell || cell.leaderId !== this.host.id) return null; // only leaders track the echelon above their cell
    if (level === 'squad' && group === this.zoneId) return this.squads;
    if (level === 'platoon' && group === this.companyId && this.zoneLeader() === this.host.id) return this.platoons;
    return null;
  }

  /** The zone's routing table, from the squad summaries heard (LWW by aggregation time, the publisher as writer). */
  private learnRoutes(): void {
    for (const { summary, publisher } of this.squads.fresh(this.zoneId, SOURCE_STALE_MS)) {
      const s = summary as SquadSummary;
      this.routing.cellZone.assign(s.squad_id, this.zoneId, s.aggregated_at, publisher);
      this.routing.cellLeader.assign(s.squad_id, s.leader_id, s.aggregated_at, publisher);
      for (const m of s.member_ids) this.routing.nodeCell.assign(m, s.squad_id, s.aggregated_at, publisher);
    }
  }

  // ---- down ----

  /** Whether this node is an audience of hop `to` and `from` may send on it; a refusal of a hop meant for this node is counted. */
  private acceptsDown(from: string, to: string): boolean {
    const cell = this.host.cell();
    if (!cell) return false;
    const leads = cell.leaderId === this.host.id;
    const expected = to === `cell:${cell.cellId}` ? cell.leaderId : to === `zone:${this.zoneId}` && leads ? this.zoneLeader() : this.companyId !== null && to === `company:${this.companyId}` && this.echelon() >= 2 ? this.companyLeader() : undefined;
    if (expected === undefined) return false; // a hop for other nodes
    return from === expected || this.refuse();
  }

  /** Handles a down item here (once), then passes it one hop further down. */
  private onDown(to: string, item: DownItem): void {
    if (!this.remember(downKey(item))) return;
    this.deliver(item);
    const below = this.hopBelow(to);
    if (below !== null) this.sendFrom(below, item);
  }

  /** The hop under `to` that this node sends on, if it leads there (a zone leader under its company, a cell leader under its zone). */
  private hopBelow(to: string): string | null {
    const cell = this.host.cell();
    if (!cell || cell.leaderId !== this.host.id) return null;
    if (to.startsWith('company:')) return this.zoneLeader() === this.host.id ? `zone:${this.zoneId}` : null;
    if (to.startsWith('zone:')) return `cell:${cell.cellId}`;
    return null;
  }

  /** Sends `item` to the nodes of hop `to` (rate-limited, highest priority first); this node is one of them too. */
  private sendFrom(to: string, item: DownItem): void {
    const message: NodeMessage = { kind: 'down', to, item };
    const flow = to.startsWith('cell:') ? this.cellFlow : this.zoneFlow;
    if (flow.offer({ item: message, priority: downPriority(item), bytes: JSON.stringify(message).length })) this.stats.dropped++;
    this.schedule();
    const below = this.hopBelow(to);
    if (below !== null) this.sendFrom(below, item);
  }

  /** Remembers a down item's key (the oldest is forgotten past SEEN_LIMIT); false when it was already known. */
  private remember(key: string): boolean {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!);
    return true;
  }

  private deliver(item: DownItem): void {
    if (item.type !== 'command') {
      this.deployment?.down(item);
      return;
    }
    if (commandIsFor(item.command, { nodeId: this.host.id, cellId: this.host.cell()?.cellId ?? null, zoneId: this.zoneId })) this.options.onCommand?.(item.command);
  }

  // ---- up ----

  private acceptsUp(from: string, to: string): boolean {
    const cell = this.host.cell();
    if (!cell || cell.leaderId !== this.host.id) return false;
    if (to === `cell:${cell.cellId}`) return cell.memberIds.includes(from) || this.refuse();
    if (to === `zone:${this.zoneId}`) return (this.zoneLeader() === this.host.id && this.routing.allows(from, to)) || this.refuse();
    if (this.companyId !== null && to === `company:${this.companyId}`) {
      const leaders = this.platoons.fresh(this.companyId, SOURCE_STALE_MS).map((p) => p.summary.leader_id);
      return (this.companyLeader() === this.host.id && leaders.includes(from)) || this.refuse();
    }
    return false;
  }

  private enqueueUp(item: UpItem): void {
    const before = this.upQueue.length;
    this.upQueue.enqueue(item, upPriority(item), JSON.stringify(item).length);
    if (this.upQueue.length === before) this.stats.dropped++;
    this.schedule();
  }

  /** Where up items go from here: the next hop, 'top' (delivered here), or 'wait' (the hop above is not known yet). */
  private upTarget(): string | 'top' | 'wait' {
    const cell = this.host.cell();
    if (!cell) return 'wait';
    if (cell.leaderId !== this.host.id) return `cell:${cell.cellId}`;
    const zoneLeader = this.zoneLeader();
    if (zoneLeader === null) return 'wait';
    if (zoneLeader !== this.host.id) return `zone:${this.zoneId}`;
    if (this.companyId === null) return 'top';
    const companyLeader = this.companyLeader();
    return companyLeader === null ? 'wait' : companyLeader === this.host.id ? 'top' : `company:${this.companyId}`;
  }

  /** A flow round now, unless one is due already (or the driver is stopped: `start` schedules it). */
  private schedule(delayMs = 0): void {
    if (this.round || !this.running) return;
    this.round = this.host.clock.setTimeout(() => {
      this.round = null;
      this.flowRound();
    }, delayMs);
  }

  /** One flow round: down messages the buckets allow (highest priority first), then the up queue's fair share. */
  private flowRound(): void {
    const now = this.host.clock.now();
    for (const m of [...this.zoneFlow.drain(now), ...this.cellFlow.drain(now)]) {
      this.stats.downSent++;
      this.host.send(m);
    }
    const target = this.upTarget();
    if (target !== 'wait') {
      const roundMs = this.options.roundMs ?? 100;
      for (const { item } of this.upQueue.round(((this.options.uplinkBytesPerSecond ?? 125_000) * roundMs) / 1000)) {
        if (item.type === 'status') this.deployment?.status(item.status);
        if (target === 'top') {
          if (item.type === 'event') this.options.onEvent?.(item.event);
          else if (item.type === 'event_summary') this.options.onEvent?.(item.summary);
          continue;
        }
        this.stats.upSent++;
        this.host.send({ kind: 'up', to: target, item });
      }
    }
    if (this.upQueue.length > 0 || this.zoneFlow.length > 0 || this.cellFlow.length > 0) this.schedule(this.options.roundMs ?? 100);
  }

  private refuse(): false {
    this.stats.refused++;
    return false;
  }

  /** A hierarchy message that does not have its shape: counted, and handled (dropped). */
  private malformed(): true {
    this.stats.refused++;
    return true;
  }
}
