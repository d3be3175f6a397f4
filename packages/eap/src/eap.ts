// SPDX-License-Identifier: Apache-2.0
// The EAP endpoint of a node: send actions on topic `eap` and wait for their results, run robot-side handlers per
// action type, answer with EapResult, honour stop_on_fail in sequences, drop stale actions, measure each action
// against the profile's EAP timing budget, and append every sent and received action to the action log.
import { metrics } from '@opentelemetry/api';
import type { Meter } from '@opentelemetry/api';
import {
  EcpsError,
  assertValidEap,
  cryptoRandom,
  getProfileQos,
  isEcpsError,
  nodeIdFromSource,
  nodeSource,
  silentLogger,
  systemClock,
} from '@ecps/core';
import type { Clock, EcpsEvent, Logger, ProfileName, RandomSource, Subscription, Transport } from '@ecps/core';
import type { EAP } from '@ecps/proto';
import { EapResult, EapStatus } from '@ecps/proto/ext/v1';
import { ECPS_MESSAGES, createEvent, decodeEvent, decodeMessageEvent, encodeMessageEvent } from '@ecps/serialization';
import { openActionLog, writerActionLog } from './action-log';
import type { ActionLog, ActionLogOptions } from './action-log';
import { actionTypeOf } from './actions';
import type { ActionBodies, ActionData, ActionType } from './actions';
import { buildAction, decodeAction, encodeAction, isStopOnFail } from './message';
import type { BuildActionOptions } from './message';
import { RecentActions } from './recent-actions';
import type { EaplogWriter } from '@ecps/eaplog';

/** CloudEvents type of action results. */
export const EAP_RESULT_EVENT_TYPE = 'ecps.ext.eap.result';
/** Default topic of actions (spec §9). */
export const EAP_TOPIC = 'eap';
/** Topic results to `nodeId` are published on. */
export const resultTopic = (nodeId: string): string => `eap/result/${nodeId}`;

export interface EapOptions {
  transport: Transport;
  nodeId: string;
  /** Conformance profile: timing budget and staleness timeout (default `standard`). */
  profile?: ProfileName;
  /** Action log: a writer you own, options for our file (`eap_{unix_seconds}.eaplog`), or false/undefined for none. */
  log?: EaplogWriter | ActionLogOptions | boolean;
  /** Prepended to every topic (spec §9). */
  topicPrefix?: string;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
  /** OpenTelemetry meter; default `metrics.getMeter('@ecps/eap')` (a no-op until an SDK is installed). */
  meter?: Meter;
  /** How long `send` waits for a result (default 30 s). */
  resultTimeoutMs?: number;
  /**
   * How far in the future an action's `time` may be (clock skew between nodes) before it is refused as stale.
   * Default: the profile's EAP timeout (so an action is accepted while |now - time| is within it).
   */
  clockSkewMs?: number;
  /** Most recently accepted actions remembered to drop redeliveries (default 10 000). */
  maxTrackedActions?: number;
}

/** What a handler is told besides the action body. */
export interface ActionContext {
  action: EAP;
  actionType: ActionType;
  event: EcpsEvent;
  /** Node id of the sender. */
  sender: string | undefined;
}

/** A robot-side handler. Returning normally is success (optionally with detail); throwing is failure. */
export type ActionHandler<K extends ActionType> = (
  body: ActionBodies[K],
  context: ActionContext,
) => void | Record<string, string> | Promise<void | Record<string, string>>;

export interface BudgetExceeded {
  actionId: string;
  actionType: ActionType;
  durationMs: number;
  budgetMs: number;
}

/** How an action is sent. */
export interface DispatchOptions {
  /**
   * Node id of the robot that should act. Only that node acts on it, and only its result is accepted (with the trust
   * layer at AUTHENTICATED or above, `source` is the verified signer; without it, the sender is only claimed).
   * Without `to`, every node with a handler for the type acts, and the first result whose sender matches the node id
   * it reports is taken.
   */
  to?: string;
  /** Default `eap`. */
  topic?: string;
  /** Wait for the robot's result (default true). */
  awaitResult?: boolean;
  timeoutMs?: number;
}

export interface SendOptions extends Omit<BuildActionOptions, 'random'>, DispatchOptions {}

export interface SendOutcome {
  action: EAP;
  event: EcpsEvent;
  /** The robot's answer (absent with awaitResult false). */
  result?: EapResult;
}

/** One step of an action sequence. */
export type SequenceStep = { [K in ActionType]: { type: K; data: ActionData[K]; options: SendOptions } }[ActionType];

export interface SequenceOutcome {
  /** One result per step; steps after a failed stop_on_fail step are SKIPPED and never sent. */
  results: EapResult[];
  /** Index of the step that stopped the sequence. */
  stoppedAt?: number;
}

export interface Eap {
  /**
   * Builds, logs and publishes an action, then waits for its result. Throws `INVALID_ARGUMENT`,
   * `MISSING_STATE_SHA`, `INVALID_STATE_SHA` (nothing sent), `TIMEOUT` when no result arrives, `CLOSED`.
   */
  send<K extends ActionType>(type: K, data: ActionData[K], options: SendOptions): Promise<SendOutcome>;
  /**
   * Sends an already built action as is (e.g. one replayed from a log): logged, published, result awaited.
   * Throws the receive-rule codes of spec §3 for an invalid action, `TIMEOUT`, `CLOSED`.
   */
  sendAction(action: EAP, options?: DispatchOptions): Promise<SendOutcome>;
  /** Sends steps one after another; a failing step with stop_on_fail skips the rest. */
  sendSequence(steps: readonly SequenceStep[]): Promise<SequenceOutcome>;
  /** Registers the handler of an action type (one per type); returns a function that removes it. */
  onAction<K extends ActionType>(type: K, handler: ActionHandler<K>): () => void;
  /** Called when an action's handling time exceeds the profile's EAP max_latency_ms. */
  onBudgetExceeded(listener: (info: BudgetExceeded) => void): () => void;
  /** EAP max_latency_ms of the profile. */
  readonly budgetMs: number;
  /** Path of the action log file, once opened. */
  readonly logPath: string | undefined;
  /** Stops listening, fails pending sends with `CLOSED`, closes our log file. */
  close(): Promise<void>;
}

interface PendingResult {
  resolve: (result: EapResult) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<Clock['setTimeout']>;
  /** The node the action was sent to, if any. */
  to?: string;
}

/** CloudEvents extension naming the node an action is addressed to. */
export const EAP_TARGET_EXTENSION = 'eaptarget';
/** An RFC 3339 date-time, as CloudEvents `time` must be. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Milliseconds of an event's `time`, or why it cannot be trusted. */
function eventTimeMs(time: string | undefined): number | string {
  if (time === undefined) return 'the action has no time';
  const ms = RFC3339.test(time) ? Date.parse(time) : Number.NaN;
  return Number.isFinite(ms) ? ms : `the action's time ${JSON.stringify(time.slice(0, 40))} is not an RFC 3339 timestamp`;
}

/**
 * Creates the EAP endpoint of a node and subscribes to actions and to its result topic.
 * Throws whatever the transport's subscribe throws.
 */
export async function createEap(options: EapOptions): Promise<Eap> {
  const { transport, nodeId } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const logger = options.logger ?? silentLogger;
  const prefix = options.topicPrefix ?? '';
  const profile = options.profile ?? 'standard';
  const qos = getProfileQos(profile, 'EAP');
  const budgetMs = qos.maxLatencyMs;
  const staleMs = qos.timeoutS * 1000;
  const skewMs = options.clockSkewMs ?? staleMs;
  const resultTimeoutMs = options.resultTimeoutMs ?? 30_000;
  const recent = new RecentActions(staleMs, options.maxTrackedActions ?? 10_000);
  const source = nodeSource(nodeId);
  const meter = options.meter ?? metrics.getMeter('@ecps/eap');
  const durationHistogram = meter.createHistogram('ecps.eap.action.duration', {
    unit: 'ms',
    description: 'Time a robot-side handler took per EAP action',
  });
  const roundTripHistogram = meter.createHistogram('ecps.eap.action.round_trip', {
    unit: 'ms',
    description: 'Time from sending an EAP action to receiving its result',
  });
  const exceededCounter = meter.createCounter('ecps.eap.budget.exceeded', { description: 'EAP actions over the timing budget' });
  const staleCounter = meter.createCounter('ecps.eap.stale.discarded', { description: 'EAP actions discarded as stale' });
  const duplicateCounter = meter.createCounter('ecps.eap.duplicate.discarded', { description: 'EAP actions delivered again and not run again' });
  const forgedCounter = meter.createCounter('ecps.eap.result.rejected', { description: 'EAP results dropped: not from the node the action was sent to' });

  let log: ActionLog | undefined;
  if (options.log === true) log = openActionLog({}, { nodeId, clock, random, logger });
  else if (options.log && typeof (options.log as EaplogWriter).append === 'function') log = writerActionLog(options.log as EaplogWriter);
  else if (options.log) log = openActionLog(options.log as ActionLogOptions, { nodeId, clock, random, logger });

  const handlers = new Map<ActionType, ActionHandler<ActionType>>();
  const budgetListeners = new Set<(info: BudgetExceeded) => void>();
  const pending = new Map<string, PendingResult>();
  let closed = false;

  const publishResult = async (to: string | undefined, result: EapResult, correlation: string): Promise<void> => {
    if (to === undefined) return;
    const event = encodeMessageEvent(EAP_RESULT_EVENT_TYPE, EapResult, result, {
      source,
      clock,
      random,
      extensions: { correlationid: correlation },
    });
    await transport.publish(prefix + resultTopic(to), event, { qos: 1 });
  };

  const result = (action: Pick<EAP, 'id'>, actionType: string, status: EapStatus, extra: Partial<EapResult> = {}): EapResult => ({
    actionId: action.id,
    actionType,
    status,
    errorCode: '',
    message: '',
    durationMs: 0,
    budgetExceeded: false,
    nodeId,
    detail: {},
    ...extra,
  });

  const onActionEvent = async (event: EcpsEvent): Promise<void> => {
    // a node without handlers is not an actuator: actions are not for it; nor are actions addressed to another node
    if (event.type !== ECPS_MESSAGES.EAP.eventType || handlers.size === 0) return;
    const target = event.extensions?.[EAP_TARGET_EXTENSION];
    if (target !== undefined && target !== nodeId) return;
    let sender: string | undefined;
    try {
      sender = nodeIdFromSource(event.source);
    } catch {
      sender = undefined;
    }
    let action: EAP;
    let bytes: Uint8Array;
    try {
      bytes = event.datacontenttype === 'application/protobuf' ? event.data : encodeAction(decodeEvent('EAP', event));
      action = decodeAction(bytes);
    } catch (error) {
      logger.warn('eap: rejecting an invalid action', { source: event.source, id: event.id, error: String(error) });
      await publishResult(sender, result({ id: event.id }, '', EapStatus.EAP_STATUS_REJECTED, {
        errorCode: isEcpsError(error) ? error.code : 'DECODE_ERROR',
        message: (error as Error).message,
      }), event.id);
      return;
    }
    const actionType = actionTypeOf(action) as ActionType;
    const handler = handlers.get(actionType);
    if (!handler) {
      logger.debug('eap: no handler for action type; ignoring', { actionType, id: action.id });
      return;
    }
    const reject = (errorCode: string, message: string): Promise<void> =>
      publishResult(sender, result(action, actionType, EapStatus.EAP_STATUS_REJECTED, { errorCode, message }), action.id);
    // Staleness (spec §5.2): only a well-formed time within the profile's timeout is fresh. A missing, malformed or
    // future time is not (spec: "no time = accept"; this guard against late or replayed delivery is stricter).
    const time = eventTimeMs(event.time);
    const age = typeof time === 'number' ? clock.now() - time : Number.NaN;
    const stale = typeof time === 'string' ? time : age > staleMs ? `action is ${Math.round(age)} ms old; the ${profile} EAP timeout is ${staleMs} ms` : age < -skewMs ? `action is dated ${Math.round(-age)} ms in the future (allowed clock skew ${skewMs} ms)` : undefined;
    if (stale !== undefined) {
      staleCounter.add(1, { action_type: actionType });
      logger.warn('eap: discarding a stale action', { id: action.id, reason: stale });
      await reject('STALE_MESSAGE', stale);
      return;
    }
    // Each action runs once, however often it is delivered.
    const admission = recent.admit(`${event.source}\u0000${action.id}`, time as number, clock.now());
    if (admission.kind === 'below-floor') {
      logger.warn('eap: refusing an action older than the ones forgotten under memory pressure', { id: action.id });
      await reject('REPLAY_DETECTED', 'action is older than the oldest one this node still remembers; it may have run already');
      return;
    }
    if (admission.kind === 'duplicate') {
      duplicateCounter.add(1, { action_type: actionType });
      logger.debug('eap: action delivered again; not running it again', { id: action.id });
      if (admission.entry.result) await publishResult(sender, admission.entry.result, action.id);
      return;
    }
    if (log) {
      try {
        await log.append(bytes);
      } catch (error) {
        logger.error('eap: cannot log a received action; not executing it', { id: action.id, error: String(error) });
        admission.entry.result = result(action, actionType, EapStatus.EAP_STATUS_REJECTED, { errorCode: 'IO_ERROR', message: 'action log unavailable' });
        await publishResult(sender, admission.entry.result, action.id);
        return;
      }
    }
    const started = clock.monotonic();
    let status = EapStatus.EAP_STATUS_SUCCEEDED;
    let extra: Partial<EapResult> = {};
    try {
      const body = (action.body as { value: ActionBodies[ActionType] }).value;
      const detail = await handler(body, { action, actionType, event, sender });
      if (detail) extra.detail = { ...detail };
    } catch (error) {
      status = EapStatus.EAP_STATUS_FAILED;
      extra = { errorCode: isEcpsError(error) ? error.code : 'REMOTE_ERROR', message: (error as Error).message ?? String(error) };
    }
    const durationMs = clock.monotonic() - started;
    const exceeded = durationMs > budgetMs;
    durationHistogram.record(durationMs, { action_type: actionType, status: status === EapStatus.EAP_STATUS_SUCCEEDED ? 'ok' : 'failed', profile });
    if (exceeded) {
      exceededCounter.add(1, { action_type: actionType, profile });
      const info: BudgetExceeded = { actionId: action.id, actionType, durationMs, budgetMs };
      logger.warn('eap: action exceeded its timing budget', { ...info });
      for (const listener of budgetListeners) {
        try {
          listener(info);
        } catch (error) {
          logger.warn('eap: budget listener threw', { error: String(error) });
        }
      }
    }
    admission.entry.result = result(action, actionType, status, { ...extra, durationMs, budgetExceeded: exceeded });
    await publishResult(sender, admission.entry.result, action.id);
  };

  const onResultEvent = (event: EcpsEvent): void => {
    if (event.type !== EAP_RESULT_EVENT_TYPE) return;
    let decoded: EapResult;
    try {
      decoded = decodeMessageEvent(EapResult, event);
    } catch (error) {
      logger.warn('eap: dropping an undecodable result', { error: String(error) });
      return;
    }
    const waiter = pending.get(decoded.actionId);
    if (!waiter) return;
    // Only the node the action went to may answer it, and a result must come from the node it names.
    const from = nodeIdFromSource(event.source);
    if (from === undefined || from !== decoded.nodeId || (waiter.to !== undefined && from !== waiter.to)) {
      forgedCounter.add(1);
      logger.warn('eap: dropping a result not from the node the action was sent to', {
        actionId: decoded.actionId,
        source: event.source,
        claimedNode: decoded.nodeId,
        ...(waiter.to !== undefined ? { expected: waiter.to } : {}),
      });
      return;
    }
    pending.delete(decoded.actionId);
    clock.clearTimeout(waiter.timer);
    waiter.resolve(decoded);
  };

  const subscriptions: Subscription[] = [
    await transport.subscribe(prefix + EAP_TOPIC, onActionEvent),
    await transport.subscribe(prefix + resultTopic(nodeId), onResultEvent),
  ];

  const sendAction = async (action: EAP, sendOptions: DispatchOptions = {}): Promise<SendOutcome> => {
    if (closed) throw new EcpsError('CLOSED', 'the EAP endpoint is closed');
    assertValidEap(action);
    const type = actionTypeOf(action) as ActionType;
    const bytes = encodeAction(action);
    if (log) await log.append(bytes);
    const to = sendOptions.to;
    const event = createEvent(ECPS_MESSAGES.EAP.eventType, bytes, {
      source,
      id: action.id,
      clock,
      random,
      ...(to !== undefined ? { extensions: { [EAP_TARGET_EXTENSION]: to } } : {}),
    });
    const awaitResult = sendOptions.awaitResult ?? true;
    let waiting: Promise<EapResult> | undefined;
    if (awaitResult) {
      waiting = new Promise<EapResult>((resolve, reject) => {
        const timeoutMs = sendOptions.timeoutMs ?? resultTimeoutMs;
        const timer = clock.setTimeout(() => {
          pending.delete(action.id);
          reject(new EcpsError('TIMEOUT', `no result for action ${action.id} (${type}) within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(action.id, { resolve, reject, timer, ...(to !== undefined ? { to } : {}) });
      });
    }
    const started = clock.monotonic();
    try {
      await transport.publish(prefix + (sendOptions.topic ?? EAP_TOPIC), event, { qos: 1 });
    } catch (error) {
      const waiter = pending.get(action.id);
      if (waiter) {
        clock.clearTimeout(waiter.timer);
        pending.delete(action.id);
      }
      throw error;
    }
    if (!waiting) return { action, event };
    const answer = await waiting;
    roundTripHistogram.record(clock.monotonic() - started, { action_type: type, profile });
    return { action, event, result: answer };
  };

  const send = async <K extends ActionType>(type: K, data: ActionData[K], sendOptions: SendOptions): Promise<SendOutcome> => {
    if (closed) throw new EcpsError('CLOSED', 'the EAP endpoint is closed');
    return sendAction(buildAction(type, data, { ...sendOptions, random }), sendOptions);
  };

  return {
    send,
    sendAction,
    async sendSequence(steps) {
      const results: EapResult[] = [];
      for (let i = 0; i < steps.length; i++) {
        const step = steps[i] as SequenceStep;
        const outcome = await send(step.type, step.data as never, step.options);
        const answer = outcome.result as EapResult;
        results.push(answer);
        if (answer.status !== EapStatus.EAP_STATUS_SUCCEEDED && isStopOnFail(outcome.action)) {
          for (const rest of steps.slice(i + 1)) {
            results.push(result({ id: rest.options.id ?? '' }, rest.type, EapStatus.EAP_STATUS_SKIPPED, {
              message: `skipped: step ${i} (${step.type}) failed with stop_on_fail`,
              nodeId: '',
            }));
          }
          return { results, stoppedAt: i };
        }
      }
      return { results };
    },
    onAction(type, handler) {
      if (handlers.has(type)) throw new EcpsError('ALREADY_EXISTS', `a handler for ${type} is already registered`);
      handlers.set(type, handler as unknown as ActionHandler<ActionType>);
      return () => {
        if (handlers.get(type) === (handler as unknown)) handlers.delete(type);
      };
    },
    onBudgetExceeded(listener) {
      budgetListeners.add(listener);
      return () => budgetListeners.delete(listener);
    },
    budgetMs,
    get logPath() {
      return log?.path;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const s of subscriptions) await s.unsubscribe().catch(() => undefined);
      for (const [id, waiter] of pending) {
        clock.clearTimeout(waiter.timer);
        waiter.reject(new EcpsError('CLOSED', `endpoint closed before the result of ${id}`));
      }
      pending.clear();
      await log?.close();
    },
  };
}
