// SPDX-License-Identifier: Apache-2.0
// HandoffService (spec §3.12): PENDING → ACCEPTED | REJECTED, ACCEPTED → COMPLETED, PENDING → EXPIRED when the
// timeout lapses. Capability routing when `to_agent` is empty, OVERLOADED retries and REDIRECTs bounded by the
// delegation policy, depth/deadline refusal, CancelDelegation with a ≥ 5 s grace. Durable when given a KvStore.
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { EcpsError, ValidationError, silentLogger, systemClock } from '@ecps/core';
import { ErrorCode, KvJsonTable, NO_AUTH, durationToMs, normaliseEnum } from '@ecps/sw4rm';
import type { Authenticator, Empty, KvStore } from '@ecps/sw4rm';
import { HandoffRequest, HandoffStatus } from '@ecps/sw4rm/proto';
import type {
  BudgetEnvelope,
  CancelDelegation,
  CancelDelegationResponse,
  CompleteHandoffRequest,
  CompleteHandoffResponse,
  GetPendingHandoffsRequest,
  GetPendingHandoffsResponse,
  HandoffResponse,
  SwarmDelegationPolicy,
} from '@ecps/sw4rm/proto';

/** What a handoff participant is told (e.g. as a NOTIFICATION envelope through the router). */
export type HandoffEvent =
  | { kind: 'requested'; requestId: string; from: string }
  | { kind: 'accepted' | 'rejected' | 'expired' | 'completed' | 'redirected'; requestId: string; by?: string; reason?: string }
  | { kind: 'cancel'; requestId: string; reason: string; graceMs: number };

/** Options of {@link HandoffService}. */
export interface HandoffServiceOptions {
  /** Durable store (namespace `handoff`); memory only when absent. */
  store?: KvStore;
  /** Agents holding every listed capability (capability routing); without it requests need `to_agent`. */
  agentsWithCapabilities?(capabilities: readonly string[]): readonly string[];
  /** Tells an agent about a handoff it takes part in; errors are logged. */
  notify?(agentId: string, event: HandoffEvent): Promise<void> | void;
  /** PENDING lifetime when the request sets no timeout; default 300 000 ms. */
  defaultTimeoutMs?: number;
  /** Finished handoffs are forgotten this long after they ended; default 3 600 000 ms. */
  retentionMs?: number;
  clock?: Clock;
  logger?: Logger;
}

interface HandoffRecord {
  request: unknown;
  status: HandoffStatus;
  /** Current target (changes on REDIRECT); '' = capability routing. */
  target: string;
  acceptingAgent: string;
  redirects: number;
  overloaded: number;
  /** Not offered again before this (OVERLOADED backoff). */
  notBeforeMs: number;
  expiresAtMs: number;
  endedAtMs?: number;
  message: string;
  /** Tokens reported used so far (`reportUsage`); its budget's `token_budget_remaining` shrinks by the same. */
  tokensUsed?: number;
  /** The ACCEPTED handoffs of `from_agent` whose budgets bound this one: usage here counts against them too. */
  parents?: string[];
}

/** Used when a request carries no delegation policy [ours]. */
const DEFAULT_POLICY: SwarmDelegationPolicy = {
  maxRetriesOnOverloaded: 3,
  initialBackoffMs: 500n,
  backoffMultiplier: 2,
  maxBackoffMs: 30_000n,
  allowSpilloverRouting: true,
  maxRedirects: 3,
};

const TERMINAL = new Set([HandoffStatus.REJECTED, HandoffStatus.COMPLETED, HandoffStatus.EXPIRED]);

/** The budget's absolute deadline in ms, Infinity when it sets none. */
const deadlineOf = (req: HandoffRequest) => (req.budget && req.budget.deadlineEpochMs > 0n ? Number(req.budget.deadlineEpochMs) : Infinity);
const MIN_CANCEL_GRACE_MS = 5000;

/** Handoff state and RPC semantics. */
export class HandoffService {
  private readonly records = new Map<string, { rec: HandoffRecord; request: HandoffRequest }>();
  private readonly timers = new Map<string, TimerHandle>();
  /** Finished handoffs in finishing order. */
  private readonly ended = new Map<string, number>();
  private readonly table: KvJsonTable<HandoffRecord> | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly options: HandoffServiceOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.table = options.store ? new KvJsonTable(options.store, 'handoff') : undefined;
  }

  /** A service with its persisted handoffs restored (timeouts re-armed). @throws EcpsError IO_ERROR, LOG_CORRUPT. */
  static async open(options: HandoffServiceOptions = {}): Promise<HandoffService> {
    const s = new HandoffService(options);
    if (s.table) {
      const loaded = [...(await s.table.load())].sort(([, a], [, b]) => (a.endedAtMs ?? 0) - (b.endedAtMs ?? 0));
      for (const [id, rec] of loaded) {
        s.records.set(id, { rec, request: HandoffRequest.fromJSON(rec.request) });
        if (rec.endedAtMs !== undefined) s.ended.set(id, rec.endedAtMs);
        else if (rec.status === HandoffStatus.PENDING) s.armExpiry(id, rec.expiresAtMs);
        else if (rec.status === HandoffStatus.ACCEPTED) s.armBudget(id);
      }
    }
    return s;
  }

  /** A handoff's record (status, target, counters), for status pages and tests. */
  get(requestId: string): Readonly<HandoffRecord> | undefined {
    return this.records.get(requestId)?.rec;
  }

  /**
   * RequestHandoff. @throws ValidationError INVALID_ARGUMENT (missing ids); EcpsError ALREADY_EXISTS (request id
   * reused), FAILED_PRECONDITION-mapped CONFLICT (depth reached, deadline passed, no capable agent),
   * PERMISSION_DENIED (caller is not `from_agent`).
   */
  async requestHandoff(req: HandoffRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<Empty> {
    this.prune();
    if (!req.requestId || !req.fromAgent) throw new ValidationError('INVALID_ARGUMENT', 'request_id and from_agent are required');
    auth.authorize(identity, req.fromAgent, 'request handoffs');
    if (this.records.has(req.requestId)) throw new EcpsError('ALREADY_EXISTS', `handoff ${req.requestId} exists`);
    const now = this.clock.now();
    const b = this.carriedBudget(req, now);
    if (b && b.maxDelegationDepth > 0 && b.currentDepth >= b.maxDelegationDepth) {
      throw new EcpsError('CONFLICT', `delegation_depth_exceeded: depth ${b.currentDepth} ≥ max ${b.maxDelegationDepth}`);
    }
    if (b && b.deadlineEpochMs > 0n && Number(b.deadlineEpochMs) <= now) throw new EcpsError('CONFLICT', 'budget_exhausted: deadline passed');
    if (b) req = { ...req, budget: b };
    if (!req.toAgent) {
      if (!this.capable(req).length) throw new EcpsError('CONFLICT', `no_capable_agent: nobody holds ${req.capabilitiesRequired.join(',') || '(no capabilities)'}`);
    } else if (req.toAgent === req.fromAgent) throw new ValidationError('INVALID_ARGUMENT', 'to_agent must differ from from_agent');
    const timeout = Math.min(durationToMs(req.timeout, this.options.defaultTimeoutMs ?? 300_000), deadlineOf(req) - now);
    const parents = this.parentsOf(req.fromAgent).map(([id]) => id);
    const rec: HandoffRecord = {
      request: HandoffRequest.toJSON(req),
      status: HandoffStatus.PENDING,
      target: req.toAgent,
      acceptingAgent: '',
      redirects: 0,
      overloaded: 0,
      notBeforeMs: 0,
      expiresAtMs: now + timeout,
      message: '',
      ...(parents.length ? { parents } : {}),
    };
    await this.save(req.requestId, rec, req);
    this.armExpiry(req.requestId, rec.expiresAtMs);
    for (const agent of req.toAgent ? [req.toAgent] : this.capable(req)) this.tell(agent, { kind: 'requested', requestId: req.requestId, from: req.fromAgent });
    return {};
  }

  /**
   * AcceptHandoff: `accepted` must be true and the accepting agent one the request is routable to.
   * @throws ValidationError INVALID_ARGUMENT; EcpsError NOT_FOUND, CONFLICT (not PENDING, not routable), PERMISSION_DENIED.
   */
  async acceptHandoff(res: HandoffResponse, identity?: string, auth: Authenticator = NO_AUTH): Promise<Empty> {
    if (!res.accepted) throw new ValidationError('INVALID_ARGUMENT', 'AcceptHandoff needs accepted=true');
    if (!res.acceptingAgent) throw new ValidationError('INVALID_ARGUMENT', 'accepting_agent is required');
    auth.authorize(identity, res.acceptingAgent, 'accept handoffs');
    const h = this.pending(res.requestId);
    if (!this.routableTo(h, res.acceptingAgent, this.clock.now())) throw new EcpsError('CONFLICT', `handoff ${res.requestId} is not offered to ${res.acceptingAgent}`);
    await this.transition(res.requestId, { status: HandoffStatus.ACCEPTED, acceptingAgent: res.acceptingAgent });
    this.armBudget(res.requestId);
    this.tell(h.request.fromAgent, { kind: 'accepted', requestId: res.requestId, by: res.acceptingAgent });
    return {};
  }

  /**
   * RejectHandoff: `accepted=false` and a non-zero `rejection_code`. OVERLOADED is offered again after
   * `max(retry_after_ms, backoff)` up to the policy's retry count; REDIRECT moves the request to
   * `redirect_to_agent_id` up to `max_redirects`; anything else (or an exhausted bound) ends it REJECTED.
   * @throws ValidationError INVALID_ARGUMENT; EcpsError NOT_FOUND, CONFLICT, PERMISSION_DENIED.
   */
  async rejectHandoff(res: HandoffResponse, identity?: string, auth: Authenticator = NO_AUTH): Promise<Empty> {
    const code = normaliseEnum(ErrorCode, res.rejectionCode) ?? 0;
    if (res.accepted || code === 0) throw new ValidationError('INVALID_ARGUMENT', 'RejectHandoff needs accepted=false and a rejection_code');
    if (code === ErrorCode.REDIRECT && !res.redirectToAgentId) throw new ValidationError('INVALID_ARGUMENT', 'REDIRECT needs redirect_to_agent_id');
    const h = this.pending(res.requestId);
    const by = res.acceptingAgent || h.rec.target;
    if (by) auth.authorize(identity, by, 'reject handoffs');
    if (by && !this.routableTo(h, by, this.clock.now())) throw new EcpsError('CONFLICT', `handoff ${res.requestId} is not offered to ${by}`);
    const policy = h.request.delegationPolicy ?? DEFAULT_POLICY;
    const now = this.clock.now();
    const from = h.request.fromAgent;
    if (code === ErrorCode.OVERLOADED && h.rec.overloaded < policy.maxRetriesOnOverloaded) {
      const backoff = Math.min(Number(policy.maxBackoffMs) || Infinity, Number(policy.initialBackoffMs) * (policy.backoffMultiplier || 1) ** h.rec.overloaded);
      await this.transition(res.requestId, { overloaded: h.rec.overloaded + 1, notBeforeMs: now + Math.max(Number(res.retryAfterMs), backoff) });
      return {};
    }
    if (code === ErrorCode.REDIRECT && res.redirectToAgentId !== from && h.rec.redirects < policy.maxRedirects) {
      await this.transition(res.requestId, { target: res.redirectToAgentId, redirects: h.rec.redirects + 1, notBeforeMs: 0 });
      this.tell(res.redirectToAgentId, { kind: 'requested', requestId: res.requestId, from });
      this.tell(from, { kind: 'redirected', requestId: res.requestId, by, reason: res.redirectToAgentId });
      return {};
    }
    const reason = `${ErrorCode[code] ?? code}${res.rejectionReason ? `: ${res.rejectionReason}` : ''}`;
    await this.transition(res.requestId, { status: HandoffStatus.REJECTED, message: reason });
    this.tell(from, { kind: 'rejected', requestId: res.requestId, by, reason });
    return {};
  }

  /** GetPendingHandoffs: PENDING requests routable to `agent_id` now. @throws EcpsError PERMISSION_DENIED. */
  async getPendingHandoffs(req: GetPendingHandoffsRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<GetPendingHandoffsResponse> {
    auth.authorize(identity, req.agentId, 'list handoffs');
    const now = this.clock.now();
    const out: HandoffRequest[] = [];
    for (const h of this.records.values()) if (h.rec.status === HandoffStatus.PENDING && this.routableTo(h, req.agentId, now)) out.push(h.request);
    return { pendingRequests: out.sort((a, b) => a.priority - b.priority) };
  }

  /** CompleteHandoff: ACCEPTED → COMPLETED; anything else is `success=false` with the reason. */
  async completeHandoff(req: CompleteHandoffRequest, identity?: string, auth: Authenticator = NO_AUTH): Promise<CompleteHandoffResponse> {
    const h = this.records.get(req.requestId);
    if (!h) return { success: false, message: `handoff_not_found: ${req.requestId}` };
    auth.authorize(identity, h.rec.acceptingAgent || h.rec.target, 'complete handoffs');
    const to = normaliseEnum(HandoffStatus, req.status) ?? 0;
    if (h.rec.status !== HandoffStatus.ACCEPTED || to !== HandoffStatus.COMPLETED) {
      return { success: false, message: `illegal transition ${HandoffStatus[h.rec.status]} → ${HandoffStatus[to] ?? to}` };
    }
    await this.transition(req.requestId, { status: HandoffStatus.COMPLETED });
    this.tell(h.request.fromAgent, { kind: 'completed', requestId: req.requestId, by: h.rec.acceptingAgent });
    return { success: true, message: '' };
  }

  /**
   * CancelDelegation (correlation id = request id): a PENDING handoff expires at once; an ACCEPTED one is told to
   * stop and expires after the grace (raised to at least 5000 ms) unless it completes first.
   */
  async cancelDelegation(req: CancelDelegation, identity?: string, auth: Authenticator = NO_AUTH): Promise<CancelDelegationResponse> {
    const h = this.records.get(req.correlationId);
    if (!h) return { acknowledged: false, message: `unknown delegation ${req.correlationId}` };
    auth.authorize(identity, h.request.fromAgent, 'cancel delegations');
    const grace = Math.max(MIN_CANCEL_GRACE_MS, Number(req.gracePeriodMs));
    const reason = req.reason || 'cancelled';
    if (h.rec.status === HandoffStatus.PENDING) {
      await this.transition(req.correlationId, { status: HandoffStatus.EXPIRED, message: `cancelled: ${reason}` });
      return { acknowledged: true, message: 'cancelled before acceptance' };
    }
    if (h.rec.status !== HandoffStatus.ACCEPTED) return { acknowledged: true, message: `already ${HandoffStatus[h.rec.status]}` };
    this.tell(h.rec.acceptingAgent, { kind: 'cancel', requestId: req.correlationId, reason, graceMs: grace });
    this.arm(req.correlationId, grace, () => {
      if (this.records.get(req.correlationId)?.rec.status !== HandoffStatus.ACCEPTED) return;
      this.transition(req.correlationId, { status: HandoffStatus.EXPIRED, message: `cancelled: ${reason}` }).catch((err: unknown) =>
        this.logger.error('handoff cancellation not saved', { requestId: req.correlationId, error: String(err) }),
      );
    });
    return { acknowledged: true, message: `cancelling; grace ${grace} ms` };
  }

  /** Clears every timer. */
  close(): void {
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  /**
   * The budget a request carries: its own, tightened by every handoff its sender is working on (ACCEPTED by it), so
   * delegating never escapes a budget — depth one deeper than the sender's, the smaller non-zero depth limit, token
   * budget and deadline (a wall-time allowance becomes a deadline). Undefined when nothing sets a budget.
   */
  private carriedBudget(req: HandoffRequest, now: number): BudgetEnvelope | undefined {
    const own = req.budget;
    const parents = this.parentsOf(req.fromAgent).map(([, h]) => h);
    if (!own && !parents.length) return undefined;
    const minSet = (values: bigint[]) => values.filter((v) => v > 0n).reduce<bigint>((a, v) => (a === 0n || v < a ? v : a), 0n);
    const all = [...(own ? [own] : []), ...parents.map((h) => h.request.budget!)];
    const ownDeadline = own && own.wallTimeRemainingMs > 0n ? BigInt(now) + own.wallTimeRemainingMs : 0n;
    const deadline = minSet([...all.map((x) => x.deadlineEpochMs), ownDeadline]);
    return {
      tokenBudgetRemaining: minSet(all.map((x) => x.tokenBudgetRemaining)),
      wallTimeRemainingMs: deadline > 0n ? (deadline > BigInt(now) ? deadline - BigInt(now) : 0n) : 0n,
      deadlineEpochMs: deadline,
      currentDepth: Math.max(own?.currentDepth ?? 0, ...parents.map((h) => h.request.budget!.currentDepth + 1)),
      maxDelegationDepth: Number(minSet(all.map((x) => BigInt(x.maxDelegationDepth)))),
    };
  }

  /** The ACCEPTED handoffs with a budget that `agentId` is working on. */
  private parentsOf(agentId: string): [string, { rec: HandoffRecord; request: HandoffRequest }][] {
    return [...this.records].filter(([, h]) => h.rec.status === HandoffStatus.ACCEPTED && h.rec.acceptingAgent === agentId && h.request.budget);
  }

  /**
   * Token usage of an ACCEPTED handoff, reported by the agent working on it: its budget's `token_budget_remaining`
   * and that of every live handoff it was delegated under shrink by `tokens` (durable before the answer). A budget
   * that reaches zero ends its handoff — and every live handoff delegated under it — EXPIRED `budget_exhausted`,
   * the workers are told to cancel and the originators that it expired.
   * @returns the tokens left to this handoff (undefined: no token budget applies).
   * @throws ValidationError INVALID_ARGUMENT (tokens not a non-negative integer); EcpsError NOT_FOUND, CONFLICT (not
   * ACCEPTED), PERMISSION_DENIED (caller is not the accepting agent), RESOURCE_EXHAUSTED `budget_exhausted` when this
   * report spent the budget of this handoff or of one above it (the work is cancelled), IO_ERROR.
   */
  async reportUsage(requestId: string, tokens: number, identity?: string, auth: Authenticator = NO_AUTH): Promise<bigint | undefined> {
    if (!Number.isSafeInteger(tokens) || tokens < 0) throw new ValidationError('INVALID_ARGUMENT', `tokens must be a non-negative integer, got ${tokens}`);
    const h = this.records.get(requestId);
    if (!h) throw new EcpsError('NOT_FOUND', `handoff ${requestId} not found`);
    auth.authorize(identity, h.rec.acceptingAgent || h.rec.target, 'report handoff usage');
    if (h.rec.status !== HandoffStatus.ACCEPTED) throw new EcpsError('CONFLICT', `handoff ${requestId} is ${HandoffStatus[h.rec.status]}: ${h.rec.message || 'no work to count'}`);
    // this handoff and the live ones above it (each counted once)
    const chain: string[] = [];
    for (let todo = [requestId]; todo.length; ) {
      const id = todo.pop()!;
      const cur = this.records.get(id);
      if (chain.includes(id) || cur?.rec.status !== HandoffStatus.ACCEPTED) continue;
      chain.push(id);
      todo.push(...(cur.rec.parents ?? []));
    }
    const updates = chain.map((id) => {
      const cur = this.records.get(id)!;
      const left = cur.request.budget?.tokenBudgetRemaining ?? 0n;
      const request = left > 0n ? { ...cur.request, budget: { ...cur.request.budget!, tokenBudgetRemaining: left > BigInt(tokens) ? left - BigInt(tokens) : 0n } } : cur.request;
      return { id, rec: { ...cur.rec, tokensUsed: (cur.rec.tokensUsed ?? 0) + tokens, request: HandoffRequest.toJSON(request) }, request, spent: left > 0n && left <= BigInt(tokens) };
    });
    if (this.table) await this.options.store!.commit(updates.map((u) => this.table!.put(u.id, u.rec)));
    for (const u of updates) this.records.set(u.id, { rec: u.rec, request: u.request });
    const spent = updates.filter((u) => u.spent).map((u) => u.id);
    if (!spent.length) return updates[0]!.request.budget?.tokenBudgetRemaining || undefined;
    for (const id of spent) await this.expireForBudget(id, 'token budget spent');
    throw new EcpsError('RESOURCE_EXHAUSTED', `budget_exhausted: token budget of ${spent.join(', ')} spent (${tokens} tokens reported for ${requestId})`);
  }

  /** Ends an ACCEPTED handoff and every live one delegated under it EXPIRED `budget_exhausted`, telling everyone. */
  private async expireForBudget(requestId: string, why: string): Promise<void> {
    const cur = this.records.get(requestId);
    if (cur?.rec.status !== HandoffStatus.ACCEPTED && cur?.rec.status !== HandoffStatus.PENDING) return;
    if (cur.rec.status === HandoffStatus.ACCEPTED) this.tell(cur.rec.acceptingAgent, { kind: 'cancel', requestId, reason: 'budget_exhausted', graceMs: 0 });
    await this.transition(requestId, { status: HandoffStatus.EXPIRED, message: `budget_exhausted: ${why}` });
    this.tell(cur.request.fromAgent, { kind: 'expired', requestId, reason: 'budget_exhausted' });
    for (const [id, h] of [...this.records]) if (h.rec.parents?.includes(requestId)) await this.expireForBudget(id, `${why} (in ${requestId})`);
  }

  /** An ACCEPTED handoff whose budget deadline passes before completion is cancelled: EXPIRED `budget_exhausted`. */
  private armBudget(requestId: string): void {
    const h = this.records.get(requestId);
    const deadline = h ? deadlineOf(h.request) : Infinity;
    if (!h || deadline === Infinity) return;
    this.arm(requestId, Math.max(0, deadline - this.clock.now()), () => {
      const cur = this.records.get(requestId);
      if (cur?.rec.status !== HandoffStatus.ACCEPTED) return;
      this.tell(cur.rec.acceptingAgent, { kind: 'cancel', requestId, reason: 'budget_exhausted', graceMs: 0 });
      this.transition(requestId, { status: HandoffStatus.EXPIRED, message: 'budget_exhausted: deadline passed' }).then(
        () => this.tell(cur.request.fromAgent, { kind: 'expired', requestId, reason: 'budget_exhausted' }),
        (err: unknown) => this.logger.error('handoff budget expiry not saved', { requestId, error: String(err) }),
      );
    });
  }

  private capable(req: HandoffRequest): string[] {
    return (this.options.agentsWithCapabilities?.(req.capabilitiesRequired) ?? []).filter((a) => a !== req.fromAgent);
  }

  private routableTo(h: { rec: HandoffRecord; request: HandoffRequest }, agentId: string, now: number): boolean {
    if (!agentId || agentId === h.request.fromAgent || h.rec.notBeforeMs > now) return false;
    return h.rec.target ? h.rec.target === agentId : this.capable(h.request).includes(agentId);
  }

  private pending(requestId: string): { rec: HandoffRecord; request: HandoffRequest } {
    const h = this.records.get(requestId);
    if (!h) throw new EcpsError('NOT_FOUND', `handoff ${requestId} not found`);
    if (h.rec.status !== HandoffStatus.PENDING) throw new EcpsError('CONFLICT', `handoff ${requestId} is ${HandoffStatus[h.rec.status]}`);
    return h;
  }

  private async transition(requestId: string, change: Partial<HandoffRecord>): Promise<void> {
    const h = this.records.get(requestId)!;
    const next = { ...h.rec, ...change };
    if (change.status !== undefined && TERMINAL.has(change.status)) next.endedAtMs = this.clock.now();
    await this.save(requestId, next, h.request);
    if (next.status !== HandoffStatus.PENDING) this.clear(requestId);
    if (next.endedAtMs !== undefined) this.ended.set(requestId, next.endedAtMs);
    this.logger.info('handoff transition', { requestId, from: HandoffStatus[h.rec.status], to: HandoffStatus[next.status] });
  }

  private async save(requestId: string, rec: HandoffRecord, request: HandoffRequest): Promise<void> {
    await this.table?.save(requestId, rec);
    this.records.set(requestId, { rec, request });
  }

  private armExpiry(requestId: string, atMs: number): void {
    this.arm(requestId, Math.max(0, atMs - this.clock.now()), () => {
      if (this.records.get(requestId)?.rec.status !== HandoffStatus.PENDING) return;
      const from = this.records.get(requestId)!.request.fromAgent;
      this.transition(requestId, { status: HandoffStatus.EXPIRED, message: 'timeout' }).then(
        () => this.tell(from, { kind: 'expired', requestId }),
        (err: unknown) => this.logger.error('handoff expiry not saved', { requestId, error: String(err) }),
      );
    });
  }

  private arm(requestId: string, ms: number, fn: () => void): void {
    this.clear(requestId);
    this.timers.set(
      requestId,
      this.clock.setTimeout(() => {
        this.timers.delete(requestId);
        fn();
      }, ms),
    );
  }

  private clear(requestId: string): void {
    const t = this.timers.get(requestId);
    if (t !== undefined) this.clock.clearTimeout(t);
    this.timers.delete(requestId);
  }

  private prune(): void {
    const cutoff = this.clock.now() - (this.options.retentionMs ?? 3_600_000);
    const dels = [];
    for (const [id, at] of this.ended) {
      if (at > cutoff) break;
      this.ended.delete(id);
      this.records.delete(id);
      if (this.table) dels.push(this.table.del(id));
    }
    if (dels.length) this.options.store!.commit(dels).catch((err: unknown) => this.logger.error('handoff pruning not saved', { error: String(err) }));
  }

  private tell(agentId: string, event: HandoffEvent): void {
    if (!agentId || !this.options.notify) return;
    Promise.resolve()
      .then(() => this.options.notify!(agentId, event))
      .catch((err: unknown) => this.logger.warn('handoff notification failed', { agentId, kind: event.kind, error: String(err) }));
  }
}
