// SPDX-License-Identifier: Apache-2.0
// NegotiationService (spec §3.10): every RPC records the step and fans out one JSON event in a NEGOTIATION
// envelope (correlation_id = negotiation_id). Unknown → NOT_FOUND, after decide/abort → FAILED_PRECONDITION,
// bad input → INVALID_ARGUMENT. debate_timeout is enforced (abort with reason `debate_timeout`). With a KvStore
// every step is durable before it is answered or fanned out (one small record per negotiation plus one per event,
// never the whole history), and a restarted service carries on where it stopped.
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { EcpsError, ValidationError, silentLogger, systemClock } from '@ecps/core';
import { KvJsonTable, MessageType, buildEnvelope, durationToMs } from '@ecps/sw4rm';
import type { Envelope, KvOp, KvStore } from '@ecps/sw4rm';
import { DebateIntensity, EffectivePolicy, NegotiationOpen as NegotiationOpenCodec } from '@ecps/sw4rm/proto';
import type { AbortRequest, CounterProposal, Decision, Empty, Evaluation, NegotiationOpen, Proposal } from '@ecps/sw4rm/proto';
import type { PolicyStore } from './policy';

/** Event kinds of the fan-out. */
export type NegotiationEventKind = 'open' | 'policy' | 'propose' | 'counter' | 'evaluate' | 'decide' | 'abort';

/** A recorded negotiation. */
export interface NegotiationRecord {
  open: NegotiationOpen;
  state: 'OPEN' | 'DECIDED' | 'ABORTED';
  openedAtMs: number;
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
  /** Durable steps (namespaces `negotiation/…`); memory only when absent. Use {@link NegotiationService.open}. */
  store?: KvStore;
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

/** A negotiation as stored: everything but its events (stored one record each). */
interface SavedNegotiation {
  open: unknown;
  state: NegotiationRecord['state'];
  openedAtMs: number;
  endedAtMs?: number;
  rounds: number;
  evaluations: [string, number][];
  events: number;
  policy: unknown;
  profile?: string;
}

type EventBody = Record<string, unknown> & { kind: NegotiationEventKind };

/** The negotiation service. */
export class NegotiationService {
  private readonly records = new Map<string, NegotiationRecord>();
  /** Ended negotiations in ending order (forgotten from the front after the retention time). */
  private readonly ended = new Map<string, number>();
  private readonly timers = new Map<string, TimerHandle>();
  private readonly clock: Clock;
  private readonly logger: Logger;

  private readonly table: KvJsonTable<SavedNegotiation> | undefined;
  private readonly eventTable: KvJsonTable<Record<string, unknown>> | undefined;

  constructor(private readonly options: NegotiationServiceOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    if (options.store) {
      this.table = new KvJsonTable(options.store, 'negotiation/records');
      this.eventTable = new KvJsonTable(options.store, 'negotiation/events');
    }
  }

  /**
   * A service with its persisted negotiations restored: states, rounds, evaluations, events, effective policies;
   * debate timeouts run on from when each negotiation was opened.
   * @throws EcpsError IO_ERROR, LOG_CORRUPT from the store.
   */
  static async open(options: NegotiationServiceOptions): Promise<NegotiationService> {
    const s = new NegotiationService(options);
    if (!s.table || !s.eventTable) return s;
    const events = await s.eventTable.load();
    const saved = [...(await s.table.load()).values()].sort((a, b) => (a.endedAtMs ?? Infinity) - (b.endedAtMs ?? Infinity));
    for (const r of saved) {
      const open = NegotiationOpenCodec.fromJSON(r.open);
      const id = open.negotiationId;
      const rec: NegotiationRecord = { open, state: r.state, openedAtMs: r.openedAtMs, rounds: r.rounds, evaluations: new Map(r.evaluations), events: [] };
      if (r.endedAtMs !== undefined) rec.endedAtMs = r.endedAtMs;
      for (let i = 0; i < r.events; i++) {
        const e = events.get(eventKey(id, i));
        if (e) rec.events.push(e);
      }
      s.records.set(id, rec);
      options.policies.restore(id, EffectivePolicy.fromJSON(r.policy), r.profile);
      if (rec.endedAtMs !== undefined) s.ended.set(id, rec.endedAtMs);
      else s.armTimeout(rec);
    }
    return s;
  }

  get(negotiationId: string): NegotiationRecord | undefined {
    return this.records.get(negotiationId);
  }

  async open(req: NegotiationOpen): Promise<Empty> {
    this.prune();
    if (!req.negotiationId) throw new ValidationError('INVALID_ARGUMENT', 'negotiation_id is required');
    if (new Set(req.participants).size < 2) throw new ValidationError('INVALID_ARGUMENT', 'at least two participants are required');
    if (this.records.has(req.negotiationId)) throw new EcpsError('ALREADY_EXISTS', `negotiation ${req.negotiationId} exists`);
    const rec: NegotiationRecord = { open: req, state: 'OPEN', openedAtMs: this.clock.now(), rounds: 0, evaluations: new Map(), events: [] };
    this.records.set(req.negotiationId, rec);
    const eff = this.options.policies.derive(req.negotiationId, req.participants);
    const profile = this.options.policies.profileOf(req.negotiationId);
    try {
      await this.step(rec, () => undefined, [
        { kind: 'open', topic: req.topic, corr: req.correlationId || req.negotiationId },
        { kind: 'policy', negotiation_id: req.negotiationId, ...(profile ? { profile } : {}), policy: EffectivePolicy.toJSON(eff) },
      ]);
    } catch (err) {
      this.records.delete(req.negotiationId);
      this.options.policies.forget(req.negotiationId);
      throw err;
    }
    this.armTimeout(rec);
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
    await this.step(rec, () => rec.evaluations.set(req.fromAgent, req.confidenceScore), [{ kind: 'evaluate', from: req.fromAgent, score: req.confidenceScore, notes: req.notes }]);
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
    await this.step(rec, () => this.end(rec, 'DECIDED'), [{ kind: 'decide', by: req.decidedBy, ct: req.contentType, result_b64: Buffer.from(req.result).toString('base64') }]);
    this.clearTimer(req.negotiationId);
    return {};
  }

  async abort(req: AbortRequest): Promise<Empty> {
    const rec = this.active(req.negotiationId);
    await this.step(rec, () => this.end(rec, 'ABORTED'), [{ kind: 'abort', reason: req.reason }]);
    this.clearTimer(req.negotiationId);
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
    const bump = () => {
      rec.rounds++;
      rec.evaluations.clear();
    };
    await this.step(rec, bump, [{ kind, from: req.fromAgent, ct: req.contentType, payload_b64: Buffer.from(req.payload).toString('base64') }]);
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

  /** Restarts the debate timeout of an open negotiation from when it was opened. */
  private armTimeout(rec: NegotiationRecord): void {
    const timeout = durationToMs(rec.open.debateTimeout, 0);
    if (timeout <= 0 || rec.state !== 'OPEN') return;
    const id = rec.open.negotiationId;
    this.timers.set(
      id,
      this.clock.setTimeout(
        () => {
          this.timers.delete(id);
          if (rec.state !== 'OPEN') return;
          this.logger.warn('negotiation timed out', { negotiationId: id });
          this.step(rec, () => this.end(rec, 'ABORTED'), [{ kind: 'abort', reason: 'debate_timeout' }]).catch((err: unknown) =>
            this.logger.error('negotiation timeout not saved', { negotiationId: id, error: String(err) }),
          );
        },
        Math.max(0, rec.openedAtMs + timeout - this.clock.now()),
      ),
    );
  }

  /**
   * One step: applies `mutate`, records its events, makes both durable, then fans the events out. A failed
   * commit undoes the change in memory and propagates (IO_ERROR): nothing is answered or sent that is not stored.
   */
  private async step(rec: NegotiationRecord, mutate: () => void, bodies: EventBody[]): Promise<void> {
    const before = { state: rec.state, endedAtMs: rec.endedAtMs, rounds: rec.rounds, evaluations: new Map(rec.evaluations), events: rec.events.length };
    mutate();
    const events = bodies.map(({ kind, ...rest }) => ({ kind, ts: new Date(this.clock.now()).toISOString(), ...rest }));
    rec.events.push(...events);
    if (this.table && this.eventTable && this.options.store) {
      const id = rec.open.negotiationId;
      const ops: KvOp[] = events.map((e, i) => this.eventTable!.put(eventKey(id, before.events + i), e));
      ops.push(this.table.put(id, this.saved(rec)));
      try {
        await this.options.store.commit(ops);
      } catch (err) {
        Object.assign(rec, { state: before.state, rounds: before.rounds, evaluations: before.evaluations });
        if (before.endedAtMs === undefined) {
          delete rec.endedAtMs;
          this.ended.delete(id);
        }
        rec.events.length = before.events;
        throw err;
      }
    }
    for (const e of events) await this.emitEvent(rec, e);
  }

  private saved(rec: NegotiationRecord): SavedNegotiation {
    const id = rec.open.negotiationId;
    const eff = this.options.policies.effectiveOf(id);
    return {
      open: NegotiationOpenCodec.toJSON(rec.open),
      state: rec.state,
      openedAtMs: rec.openedAtMs,
      ...(rec.endedAtMs !== undefined ? { endedAtMs: rec.endedAtMs } : {}),
      rounds: rec.rounds,
      evaluations: [...rec.evaluations],
      events: rec.events.length,
      policy: eff ? EffectivePolicy.toJSON(eff) : {},
      ...(this.options.policies.profileOf(id) ? { profile: this.options.policies.profileOf(id)! } : {}),
    };
  }

  private end(rec: NegotiationRecord, state: 'DECIDED' | 'ABORTED'): void {
    rec.state = state;
    rec.endedAtMs = this.clock.now();
    this.ended.set(rec.open.negotiationId, rec.endedAtMs);
  }

  /** Forgets ended negotiations (and their policy records) past the retention time. */
  private prune(): void {
    const cutoff = this.clock.now() - (this.options.retentionMs ?? 3_600_000);
    const ops: KvOp[] = [];
    for (const [id, at] of this.ended) {
      if (at > cutoff) break;
      const rec = this.records.get(id);
      this.ended.delete(id);
      this.records.delete(id);
      ops.push(...this.options.policies.forget(id));
      if (this.table && this.eventTable) {
        ops.push(this.table.del(id));
        for (let i = 0; i < (rec?.events.length ?? 0); i++) ops.push(this.eventTable.del(eventKey(id, i)));
      }
    }
    if (ops.length) this.options.store!.commit(ops).catch((err: unknown) => this.logger.error('negotiation pruning not saved', { error: String(err) }));
  }

  private clearTimer(id: string): void {
    const t = this.timers.get(id);
    if (t !== undefined) this.clock.clearTimeout(t);
    this.timers.delete(id);
  }

  private async emitEvent(rec: NegotiationRecord, event: Record<string, unknown>): Promise<void> {
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
      this.logger.warn('negotiation event fan-out failed', { kind: event['kind'], error: String(err) });
    }
  }
}

/** Event records sort in order under their negotiation. */
const eventKey = (negotiationId: string, index: number) => `${negotiationId}/${String(index).padStart(8, '0')}`;
