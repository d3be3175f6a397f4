// SPDX-License-Identifier: Apache-2.0
// SchedulerPolicyService state (spec §3.10, §3.14): base policy, profiles, per-agent preferences and the
// effective policy of each negotiation (preferences may only tighten the base). With a KvStore every change is
// durable before it is answered: the base policy and the profile list one record each, then one record per agent
// preference, evaluation and HITL action (never a rewrite of a whole history).
import { EcpsError } from '@ecps/core';
import { KvJsonTable } from '@ecps/sw4rm';
import type { KvOp, KvStore } from '@ecps/sw4rm';
import { AgentPreferences as AgentPreferencesCodec, EvaluationReport as EvaluationReportCodec, HitlActionRequest as HitlActionCodec, NegotiationPolicy, PolicyProfile as PolicyProfileCodec } from '@ecps/sw4rm/proto';
import type {
  AgentPreferences,
  EffectivePolicy,
  EvaluationReport,
  GetEffectivePolicyRequest,
  GetEffectivePolicyResponse,
  GetNegotiationPolicyResponse,
  HitlActionRequest,
  HitlActionResponse,
  ListPolicyProfilesResponse,
  PolicyProfile,
  SetNegotiationPolicyRequest,
  SetNegotiationPolicyResponse,
  SetPolicyProfilesRequest,
  SetPolicyProfilesResponse,
  SubmitEvaluationRequest,
  SubmitEvaluationResponse,
} from '@ecps/sw4rm/proto';

/** The default base policy [ours]. */
export const DEFAULT_POLICY: NegotiationPolicy = NegotiationPolicy.fromPartial({
  maxRounds: 5,
  scoreThreshold: 0.7,
  diffTolerance: 0.1,
  roundTimeoutMs: 60_000n,
  tokenBudgetPerRound: 0n,
  totalTokenBudget: 0n,
  oscillationLimit: 3,
  hitl: { mode: 'None' },
  scoring: { requireSchemaValid: true, requireExamplesPass: false, llmWeight: 0.3 },
});

/** A scored evaluation kept per negotiation. */
export interface ScoredEvaluation {
  report: EvaluationReport;
  /** `(1 − llm_weight)·deterministic + llm_weight·llm_confidence`. */
  score: number;
}

const inUnit = (x: number) => x >= 0 && x <= 1;

function policyProblem(p: NegotiationPolicy): string | undefined {
  if (!inUnit(p.scoreThreshold)) return 'score_threshold must be in [0,1]';
  if (!inUnit(p.diffTolerance)) return 'diff_tolerance must be in [0,1]';
  if (p.scoring && !inUnit(p.scoring.llmWeight)) return 'scoring.llm_weight must be in [0,1]';
  if (p.hitl && !['', 'None', 'PauseBetweenRounds', 'PauseOnFinalAccept'].includes(p.hitl.mode)) return `unknown hitl.mode ${p.hitl.mode}`;
  return undefined;
}

const minPositive = (a: number, b: number) => (b > 0 && (a === 0 || b < a) ? b : a);
const minPositiveBig = (a: bigint, b: bigint) => (b > 0n && (a === 0n || b < a) ? b : a);

/** Base policy + preferences: limits take the min (0 = unset), `score_threshold` the max. */
export function effectivePolicy(base: NegotiationPolicy, prefs: ReadonlyMap<string, AgentPreferences>): EffectivePolicy {
  const p = NegotiationPolicy.fromPartial(base);
  const applied = new Map<string, AgentPreferences>();
  for (const [agent, pref] of prefs) {
    applied.set(agent, pref);
    p.maxRounds = minPositive(p.maxRounds, pref.maxRounds);
    p.scoreThreshold = Math.max(p.scoreThreshold, pref.scoreThreshold);
    p.diffTolerance = minPositive(p.diffTolerance, pref.diffTolerance);
    p.roundTimeoutMs = minPositiveBig(p.roundTimeoutMs, pref.roundTimeoutMs);
    p.tokenBudgetPerRound = minPositiveBig(p.tokenBudgetPerRound, pref.tokenBudgetPerRound);
    p.totalTokenBudget = minPositiveBig(p.totalTokenBudget, pref.totalTokenBudget);
    p.oscillationLimit = minPositive(p.oscillationLimit, pref.oscillationLimit);
  }
  return { policy: p, applied };
}

/** Per-negotiation records are keyed `<negotiation>\0<seq>` (seq padded and store-wide: key order = append order). */
const entryKey = (negotiationId: string, seq: number) => `${negotiationId}\u0000${String(seq).padStart(12, '0')}`;
const splitKey = (key: string) => ({ negotiationId: key.slice(0, key.lastIndexOf('\u0000')), seq: Number(key.slice(key.lastIndexOf('\u0000') + 1)) });

/** Policy store and the SchedulerPolicyService RPCs. */
export class PolicyStore {
  private base: NegotiationPolicy = DEFAULT_POLICY;
  private profiles: PolicyProfile[] = [];
  private readonly prefs = new Map<string, AgentPreferences>();
  private readonly effective = new Map<string, { policy: EffectivePolicy; profile?: string }>();
  private readonly evaluations = new Map<string, ScoredEvaluation[]>();
  private readonly hitl = new Map<string, HitlActionRequest[]>();
  /** Store keys of each negotiation's evaluation and HITL records (deleted when it is forgotten). */
  private readonly recordKeys = new Map<string, KvOp[]>();
  private seq = 0;
  private readonly tables:
    | { settings: KvJsonTable<unknown>; prefs: KvJsonTable<unknown>; evaluations: KvJsonTable<{ report: unknown; score: number }>; hitl: KvJsonTable<unknown> }
    | undefined;

  /** Memory only without `store`; use {@link PolicyStore.open} to restore what a store holds. */
  constructor(private readonly store?: KvStore) {
    if (store) {
      this.tables = {
        settings: new KvJsonTable(store, 'policy/settings'),
        prefs: new KvJsonTable(store, 'policy/prefs'),
        evaluations: new KvJsonTable(store, 'policy/evaluations'),
        hitl: new KvJsonTable(store, 'policy/hitl'),
      };
    }
  }

  /**
   * A policy store with its persisted base policy, profiles, agent preferences, evaluations and HITL actions
   * restored (effective policies are restored by the negotiation service, which owns the negotiations).
   * @throws EcpsError IO_ERROR, LOG_CORRUPT from the store.
   */
  static async open(store?: KvStore): Promise<PolicyStore> {
    const p = new PolicyStore(store);
    if (!p.tables) return p;
    const settings = await p.tables.settings.load();
    if (settings.has('base')) p.base = NegotiationPolicy.fromJSON(settings.get('base'));
    if (settings.has('profiles')) p.profiles = (settings.get('profiles') as unknown[]).map((x) => PolicyProfileCodec.fromJSON(x));
    for (const [agent, x] of await p.tables.prefs.load()) p.prefs.set(agent, AgentPreferencesCodec.fromJSON(x));
    for (const [key, x] of await p.tables.evaluations.load()) {
      const { negotiationId, seq } = p.restored(key, p.tables.evaluations);
      append(p.evaluations, negotiationId, { report: EvaluationReportCodec.fromJSON(x.report), score: x.score });
      p.seq = Math.max(p.seq, seq + 1);
    }
    for (const [key, x] of await p.tables.hitl.load()) {
      const { negotiationId, seq } = p.restored(key, p.tables.hitl);
      append(p.hitl, negotiationId, HitlActionCodec.fromJSON(x));
      p.seq = Math.max(p.seq, seq + 1);
    }
    return p;
  }

  /** Sets one agent's preferences (used for negotiations opened later); durable once resolved. @throws EcpsError IO_ERROR. */
  async setAgentPreferences(agentId: string, prefs: AgentPreferences): Promise<void> {
    await this.commit(this.tables?.prefs.put(agentId, AgentPreferencesCodec.toJSON(prefs)));
    this.prefs.set(agentId, prefs);
  }

  /** Derives and records the effective policy of a negotiation (called on Open). */
  derive(negotiationId: string, participants: readonly string[], profile?: string): EffectivePolicy {
    const base = (profile && this.profiles.find((p) => p.name === profile)?.policy) || this.base;
    const prefs = new Map(participants.filter((a) => this.prefs.has(a)).map((a) => [a, this.prefs.get(a)!] as const));
    const eff = effectivePolicy(base, prefs);
    this.effective.set(negotiationId, profile ? { policy: eff, profile } : { policy: eff });
    return eff;
  }

  isKnown(negotiationId: string): boolean {
    return this.effective.has(negotiationId);
  }

  evaluationsOf(negotiationId: string): readonly ScoredEvaluation[] {
    return this.evaluations.get(negotiationId) ?? [];
  }

  async setNegotiationPolicy(req: SetNegotiationPolicyRequest): Promise<SetNegotiationPolicyResponse> {
    if (!req.policy) return { ok: false, reason: 'validation_error: policy is required' };
    const problem = policyProblem(req.policy);
    if (problem) return { ok: false, reason: `validation_error: ${problem}` };
    await this.commit(this.tables?.settings.put('base', NegotiationPolicy.toJSON(req.policy)));
    this.base = req.policy;
    return { ok: true, reason: '' };
  }

  async getNegotiationPolicy(): Promise<GetNegotiationPolicyResponse> {
    return { policy: this.base };
  }

  async setPolicyProfiles(req: SetPolicyProfilesRequest): Promise<SetPolicyProfilesResponse> {
    const names = new Set<string>();
    for (const p of req.profiles) {
      if (!p.name || names.has(p.name)) return { ok: false, reason: `validation_error: profile names must be unique and non-empty (${p.name})` };
      names.add(p.name);
      const problem = p.policy ? policyProblem(p.policy) : 'policy is required';
      if (problem) return { ok: false, reason: `validation_error: profile ${p.name}: ${problem}` };
    }
    await this.commit(this.tables?.settings.put('profiles', req.profiles.map((p) => PolicyProfileCodec.toJSON(p))));
    this.profiles = [...req.profiles];
    return { ok: true, reason: '' };
  }

  async listPolicyProfiles(): Promise<ListPolicyProfilesResponse> {
    return { profiles: [...this.profiles] };
  }

  /** @throws EcpsError NOT_FOUND for an unknown negotiation. */
  async getEffectivePolicy(req: GetEffectivePolicyRequest): Promise<GetEffectivePolicyResponse> {
    const e = this.effective.get(req.negotiationId);
    if (!e) throw new EcpsError('NOT_FOUND', `negotiation ${req.negotiationId} not found`);
    return { effective: e.policy };
  }

  async submitEvaluation(req: SubmitEvaluationRequest): Promise<SubmitEvaluationResponse> {
    const e = this.effective.get(req.negotiationId);
    if (!e) return { accepted: false, reason: `validation_error: unknown negotiation ${req.negotiationId}` };
    if (!req.report) return { accepted: false, reason: 'validation_error: report is required' };
    const { deterministicScore: d, llmConfidence: c } = req.report;
    if (!inUnit(d) || !inUnit(c)) return { accepted: false, reason: 'validation_error: scores must be in [0,1]' };
    const w = e.policy.policy?.scoring?.llmWeight ?? 0;
    const scored = { report: req.report, score: (1 - w) * d + w * c };
    if (this.tables) await this.record(req.negotiationId, this.tables.evaluations, { report: EvaluationReportCodec.toJSON(req.report), score: scored.score });
    append(this.evaluations, req.negotiationId, scored);
    return { accepted: true, reason: '' };
  }

  async hitlAction(req: HitlActionRequest): Promise<HitlActionResponse> {
    if (!this.effective.has(req.negotiationId)) return { ok: false, reason: `validation_error: unknown negotiation ${req.negotiationId}` };
    if (!['approve', 'deny', 'modify', 'defer'].includes(req.action)) return { ok: false, reason: `validation_error: action must be approve, deny, modify or defer` };
    if (this.tables) await this.record(req.negotiationId, this.tables.hitl, HitlActionCodec.toJSON(req));
    append(this.hitl, req.negotiationId, req);
    return { ok: true, reason: '' };
  }

  /** The effective policy derived for a negotiation, if any. */
  effectiveOf(negotiationId: string): EffectivePolicy | undefined {
    return this.effective.get(negotiationId)?.policy;
  }

  /** Puts back the effective policy of a negotiation restored from a store. */
  restore(negotiationId: string, policy: EffectivePolicy, profile?: string): void {
    this.effective.set(negotiationId, profile ? { policy, profile } : { policy });
  }

  /** Drops everything recorded for a negotiation (called when it is forgotten); returns the deletions to commit. */
  forget(negotiationId: string): KvOp[] {
    const ops = this.recordKeys.get(negotiationId) ?? [];
    this.recordKeys.delete(negotiationId);
    this.effective.delete(negotiationId);
    this.evaluations.delete(negotiationId);
    this.hitl.delete(negotiationId);
    return ops;
  }

  /** The profile a negotiation was opened with, if any. */
  profileOf(negotiationId: string): string | undefined {
    return this.effective.get(negotiationId)?.profile;
  }

  private async commit(op: KvOp | undefined): Promise<void> {
    if (op) await this.store!.commit([op]);
  }

  /** Stores one per-negotiation record under a fresh key (taken before the await: concurrent calls never share one). */
  private async record<T>(negotiationId: string, table: KvJsonTable<T>, value: T): Promise<void> {
    const key = entryKey(negotiationId, this.seq++);
    await this.store!.commit([table.put(key, value)]);
    append(this.recordKeys, negotiationId, table.del(key));
  }

  private restored(key: string, table: KvJsonTable<unknown>): { negotiationId: string; seq: number } {
    const parts = splitKey(key);
    append(this.recordKeys, parts.negotiationId, table.del(key));
    return parts;
  }
}

function append<T>(lists: Map<string, T[]>, key: string, item: T): void {
  const list = lists.get(key);
  if (list) list.push(item);
  else lists.set(key, [item]);
}
