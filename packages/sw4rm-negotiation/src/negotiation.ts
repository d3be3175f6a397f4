// SPDX-License-Identifier: Apache-2.0
// NegotiationService (spec §3.10): every RPC records the step and fans out one JSON event in a NEGOTIATION
// envelope (correlation_id = negotiation_id). Unknown → NOT_FOUND, after decide/abort → FAILED_PRECONDITION,
// bad input → INVALID_ARGUMENT. debate_timeout is enforced (abort with reason `debate_timeout`).
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { EcpsError, ValidationError, silentLogger, systemClock } from '@ecps/core';
import { MessageType, buildEnvelope, durationToMs } from '@ecps/sw4rm';
import type { Envelope } from '@ecps/sw4rm';
import { DebateIntensity, EffectivePolicy } from '@ecps/sw4rm/proto';
import type { AbortRequest, CounterProposal, Decision, Empty, Evaluation, NegotiationOpen, Proposal } from '@ecps/sw4rm/proto';
import type { PolicyStore } from './policy';

/** Event kinds of the fan-out. */
export type NegotiationEventKind = 'open' | 'policy' | 'propose' | 'counter' | 'evaluate' | 'decide' | 'abort';

/** A recorded negotiation. */
export interface NegotiationRecord {
  open: NegotiationOpen;
  state: 'OPEN' | 'DECIDED' | 'ABORTED';
  /** When it was decided or aborted. */
  endedAtMs?: number;
  rounds: number;
  /** Evaluations since the latest proposal/counter, by agent. */
  evaluations: Map<string, number>;
  events: Record<string, unknown>[];
}

/** Options of {@link NegotiationService}. */
export interface NegotiationServiceOptions {
  policies: PolicyStore;
  /** Fans out one event envelope to the negotiation's participants (e.g. through the router). Errors are logged, never block the step. */
  emit?(envelope: Envelope, participants: readonly string[]): Promise<void> | void;
  /** Decided or aborted negotiations are forgotten this long after they ended; default 3 600 000 ms. */
  retentionMs?: number;
  /** Producer id of event envelopes; default `negotiation`. */
  serviceId?: string;
  clock?: Clock;
  logger?: Logger;
}

/** Rounds allowed per debate intensity when the policy sets none [ours]. */
export const INTENSITY_MAX_ROUNDS: Readonly<Record<number, number>> = {
  [DebateIntensity.LOWEST]: 1,
  [DebateIntensity.LOW]: 2,
  [DebateIntensity.MEDIUM]: 3,
  [DebateIntensity.HIGH]: 5,
  [DebateIntensity.HIGHEST]: 8,
};

const DECIDERS = new Set(['consensus', 'hitl', 'policy']);

/** The negotiation service. */
export class NegotiationService {
  private readonly records = new Map<string, NegotiationRecord>();
  /** Ended negotiations in ending order (forgotten from the front after the retention time). */
  private readonly ended = new Map<string, number>();
  private readonly timers = new Map<string, TimerHandle>();
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly options: NegotiationServiceOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  get(negotiationId: string): NegotiationRecord | undefined {
    return this.records.get(negotiationId);
  }

  async open(req: NegotiationOpen): Promise<Empty> {
    this.prune();
    if (!req.negotiationId) throw new ValidationError('INVALID_ARGUMENT', 'negotiation_id is required');
    if (new Set(req.participants).size < 2) throw new ValidationError('INVALID_ARGUMENT', 'at least two participants are required');
    if (this.records.has(req.negotiationId)) throw new EcpsError('ALREADY_EXISTS', `negotiation ${req.negotiationId} exists`);
    const rec: NegotiationRecord = { open: req, state: 'OPEN', rounds: 0, evaluations: new Map(), events: [] };
    this.records.set(req.negotiationId, rec);
    const eff = this.options.policies.derive(req.negotiationId, req.participants);
    const timeout = durationToMs(req.debateTimeout, 0);
    if (timeout > 0) {
      this.timers.set(
        req.negotiationId,
        this.clock.setTimeout(() => {
          this.timers.delete(req.negotiationId);
          if (rec.state === 'OPEN') {
            this.end(rec, 'ABORTED');
            this.logger.warn('negotiation timed out', { negotiationId: req.negotiationId });
            void this.event(rec, { kind: 'abort', reason: 'debate_timeout' });
          }
        }, timeout),
      );
    }
    await this.event(rec, { kind: 'open', topic: req.topic, corr: req.correlationId || req.negotiationId });
    const profile = this.options.policies.profileOf(req.negotiationId);
    await this.event(rec, { kind: 'policy', negotiation_id: req.negotiationId, ...(profile ? { profile } : {}), policy: EffectivePolicy.toJSON(eff) });
    return {};
  }

  async propose(req: Proposal): Promise<Empty> {
    return this.draft('propose', req);
  }

  async counter(req: CounterProposal): Promise<Empty> {
    return this.draft('counter', req);
  }

  async evaluate(req: Evaluation): Promise<Empty> {
    const rec = this.active(req.negotiationId);
    this.participant(rec, req.fromAgent);
    if (!(req.confidenceScore >= 0 && req.confidenceScore <= 1)) throw new ValidationError('INVALID_ARGUMENT', 'confidence_score must be in [0,1]');
    rec.evaluations.set(req.fromAgent, req.confidenceScore);
    await this.event(rec, { kind: 'evaluate', from: req.fromAgent, score: req.confidenceScore, notes: req.notes });
    return {};
  }

  /**
   * Decide. `consensus` needs at least two participants' evaluations of the latest draft, all at or above the
   * effective `score_threshold` (two-party unanimity); `hitl` and `policy` are taken as given.
   */
  async decide(req: Decision): Promise<Empty> {
    const rec = this.active(req.negotiationId);
    if (!DECIDERS.has(req.decidedBy)) throw new ValidationError('INVALID_ARGUMENT', 'decided_by must be consensus, hitl or policy');
    if (req.decidedBy === 'consensus') {
      const eff = await this.options.policies.getEffectivePolicy({ negotiationId: req.negotiationId });
      const threshold = eff.effective?.policy?.scoreThreshold ?? 0;
      const scores = rec.open.participants.filter((p) => rec.evaluations.has(p)).map((p) => rec.evaluations.get(p)!);
      if (rec.rounds === 0 || scores.length < 2 || scores.some((s) => s < threshold)) {
        throw new EcpsError('CONFLICT', `no consensus: ${scores.length} evaluation(s) of the latest draft, threshold ${threshold}`);
      }
    }
    this.end(rec, 'DECIDED');
    this.clearTimer(req.negotiationId);
    await this.event(rec, { kind: 'decide', by: req.decidedBy, ct: req.contentType, result_b64: Buffer.from(req.result).toString('base64') });
    return {};
  }

  async abort(req: AbortRequest): Promise<Empty> {
    const rec = this.active(req.negotiationId);
    this.end(rec, 'ABORTED');
    this.clearTimer(req.negotiationId);
    await this.event(rec, { kind: 'abort', reason: req.reason });
    return {};
  }

  /** Clears every timer. */
  close(): void {
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  private async draft(kind: 'propose' | 'counter', req: Proposal): Promise<Empty> {
    const rec = this.active(req.negotiationId);
    this.participant(rec, req.fromAgent);
    // invalid drafts are rejected without consuming a round
    if (req.payload.length === 0) throw new ValidationError('INVALID_ARGUMENT', 'payload is empty');
    const eff = await this.options.policies.getEffectivePolicy({ negotiationId: req.negotiationId });
    const maxRounds = eff.effective?.policy?.maxRounds || INTENSITY_MAX_ROUNDS[rec.open.intensity] || 0;
    if (maxRounds > 0 && rec.rounds >= maxRounds) throw new EcpsError('CONFLICT', `max_rounds ${maxRounds} reached`);
    rec.rounds++;
    rec.evaluations.clear();
    await this.event(rec, { kind, from: req.fromAgent, ct: req.contentType, payload_b64: Buffer.from(req.payload).toString('base64') });
    return {};
  }

  private active(negotiationId: string): NegotiationRecord {
    const rec = this.records.get(negotiationId);
    if (!rec) throw new EcpsError('NOT_FOUND', `negotiation ${negotiationId} not found`);
    if (rec.state !== 'OPEN') throw new EcpsError('CONFLICT', `negotiation ${negotiationId} is ${rec.state.toLowerCase()}`);
    return rec;
  }

  private participant(rec: NegotiationRecord, agent: string): void {
    if (!rec.open.participants.includes(agent)) throw new ValidationError('INVALID_ARGUMENT', `${agent || '(empty)'} is not a participant`);
  }

  private end(rec: NegotiationRecord, state: 'DECIDED' | 'ABORTED'): void {
    rec.state = state;
    rec.endedAtMs = this.clock.now();
    this.ended.set(rec.open.negotiationId, rec.endedAtMs);
  }

  /** Forgets ended negotiations (and their policy records) past the retention time. */
  private prune(): void {
    const cutoff = this.clock.now() - (this.options.retentionMs ?? 3_600_000);
    for (const [id, at] of this.ended) {
      if (at > cutoff) break;
      this.ended.delete(id);
      this.records.delete(id);
      this.options.policies.forget(id);
    }
  }

  private clearTimer(id: string): void {
    const t = this.timers.get(id);
    if (t !== undefined) this.clock.clearTimeout(t);
    this.timers.delete(id);
  }

  private async event(rec: NegotiationRecord, body: Record<string, unknown> & { kind: NegotiationEventKind }): Promise<void> {
    const { kind, ...rest } = body;
    const event = { kind, ts: new Date(this.clock.now()).toISOString(), ...rest };
    rec.events.push(event);
    const envelope = buildEnvelope(
      {
        producerId: this.options.serviceId ?? 'negotiation',
        messageType: MessageType.NEGOTIATION,
        correlationId: rec.open.negotiationId,
        contentType: 'application/json',
        payload: JSON.stringify(event),
      },
      { clock: this.clock },
    );
    try {
      await this.options.emit?.(envelope, rec.open.participants);
    } catch (err) {
      this.logger.warn('negotiation event fan-out failed', { kind: body.kind, error: String(err) });
    }
  }
}
