// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isCodexError } from './errors';
import { newBot } from './model';
import { BOT_STATUSES, type Bot, type BotStatus } from './schema';
import { applyBotEvent, TRANSITIONS, type BotEvent } from './status-machine';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const at = (status: BotStatus, extra: Partial<Bot> = {}): Bot => ({ ...newBot({ id: 'b', name: 'B', blueprint: 'b.py' }, T0), status, ...extra });
const EVENTS: BotEvent[] = [
  { type: 'start' },
  { type: 'spawned', pid: 10, startedAt: 99 },
  { type: 'spawn_failed', error: 'Bot script not found: b.py' },
  { type: 'stop', reason: 'operator' },
  { type: 'exited', exitCode: 0 },
  { type: 'failed', error: 'exited with code 1', exitCode: 1 },
  { type: 'restart' },
  { type: 'quarantine', error: 'q' },
  { type: 'reconcile', error: 'r' },
];

describe('status machine (checklist 6)', () => {
  it('every (status, event) pair: legal ones reach their target, illegal ones are a 409 invalid_transition', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BOT_STATUSES), fc.constantFrom(...EVENTS), (status, event) => {
        const bot = at(status);
        const rule = TRANSITIONS[event.type];
        if (rule.from.includes(status)) {
          expect(applyBotEvent(bot, event, T0 + 1).status).toBe(rule.to);
        } else {
          let error: unknown;
          try {
            applyBotEvent(bot, event, T0 + 1);
          } catch (e) {
            error = e;
          }
          expect(isCodexError(error, 'invalid_transition') && error.status).toBe(409);
        }
        expect(bot.status).toBe(status); // never modified in place
      }),
      { numRuns: 200 },
    );
    // the table covers exactly the transitions S1-S11 of the spec
    const legal = Object.entries(TRANSITIONS).flatMap(([event, rule]) => rule.from.map((from) => `${from} -${event}-> ${rule.to}`));
    expect(legal.sort()).toEqual(
      [
        'created -start-> deploying', 'stopped -start-> deploying', 'failed -start-> deploying', 'error -start-> deploying',
        'deploying -spawned-> running', 'deploying -spawn_failed-> failed', 'running -stop-> stopping', 'deploying -stop-> stopping',
        'stopping -exited-> stopped', 'running -failed-> failed', 'failed -restart-> deploying', 'failed -quarantine-> error',
        'deploying -reconcile-> stopped', 'running -reconcile-> stopped', 'stopping -reconcile-> stopped',
      ].sort(),
    );
  });

  it('S1/S2: start sets desired_state running; from error it clears the quarantine', () => {
    expect(applyBotEvent(at('stopped'), { type: 'start' }, T0)).toMatchObject({ status: 'deploying', desired_state: 'running' });
    const quarantined = at('error', { failure_count: 6, quarantined_at: '2025-01-01T00:00:00.000Z' });
    expect(applyBotEvent(quarantined, { type: 'start' }, T0)).toMatchObject({ failure_count: 0, quarantined_at: null });
    expect(applyBotEvent(at('failed', { failure_count: 3 }), { type: 'start' }, T0).failure_count).toBe(3);
  });

  it('S3: spawned records pid, kernel start time and started_at', () => {
    expect(applyBotEvent(at('deploying'), { type: 'spawned', pid: 10, startedAt: 99 }, T0 + 5)).toMatchObject({
      status: 'running', process_id: 10, process_started_at: 99, started_at: '2025-01-01T00:00:00.005Z',
    });
  });

  it('S4/S5: a failed start records last_error and counts an error (and a failure only when the supervisor says so)', () => {
    const failed = applyBotEvent(at('deploying'), { type: 'spawn_failed', error: 'Bot script not found: b.py' }, T0);
    expect(failed).toMatchObject({ status: 'failed', last_error: 'Bot script not found: b.py', error_count: 1, failure_count: 0 });
    expect(applyBotEvent(at('deploying'), { type: 'spawn_failed', error: 'x', countsAsFailure: true }, T0).failure_count).toBe(1);
  });

  it('S6/S7: stop sets desired_state stopped; the exit records stopped_at, exit_code and a performance log entry', () => {
    const stopping = applyBotEvent(at('running', { desired_state: 'running', process_id: 10 }), { type: 'stop', reason: 'operator' }, T0);
    expect(stopping).toMatchObject({ status: 'stopping', desired_state: 'stopped' });
    const stopped = applyBotEvent(stopping, { type: 'exited', exitCode: 143, reason: 'operator' }, T0 + 1);
    expect(stopped).toMatchObject({ status: 'stopped', exit_code: 143, process_id: null, stopped_at: '2025-01-01T00:00:00.001Z' });
    expect(stopped.performance.logs.at(-1)).toEqual({ timestamp: '2025-01-01T00:00:00.001Z', event: 'stopped', status: 'stopped', reason: 'operator' });
  });

  it('S8-S11: failure counts, restart, quarantine and reconciliation', () => {
    const failed = applyBotEvent(at('running', { failure_count: 2 }), { type: 'failed', error: 'exited with code 1', exitCode: 1 }, T0);
    expect(failed).toMatchObject({ status: 'failed', failure_count: 3, error_count: 1, exit_code: 1, last_error: 'exited with code 1' });
    expect(applyBotEvent(failed, { type: 'restart' }, T0).status).toBe('deploying');
    expect(applyBotEvent(failed, { type: 'quarantine', error: 'q' }, T0)).toMatchObject({ status: 'error', quarantined_at: '2025-01-01T00:00:00.000Z', last_error: 'q' });
    expect(applyBotEvent(at('stopping', { process_id: 5 }), { type: 'reconcile', error: 'r' }, T0)).toMatchObject({ status: 'stopped', last_error: 'r', process_id: null });
  });

  it('keeps the performance log bounded to 100 entries', () => {
    let bot = at('running');
    for (let i = 0; i < 150; i++) bot = { ...applyBotEvent(applyBotEvent(bot, { type: 'stop' }, T0 + i), { type: 'exited', exitCode: 0 }, T0 + i), status: 'running' };
    expect(bot.performance.logs).toHaveLength(100);
    expect(bot.performance.logs[0]!.timestamp).toBe(new Date(T0 + 50).toISOString());
  });
});
