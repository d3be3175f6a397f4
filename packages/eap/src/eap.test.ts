// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import type { Meter } from '@opentelemetry/api';
import { systemClock, isUuid } from '@ecps/core';
import type { Clock } from '@ecps/core';
import { readEaplog } from '@ecps/eaplog';
import { EAP, GripperOp_GripperCommand } from '@ecps/proto';
import { createEvent } from '@ecps/serialization';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { waitFor } from '@ecps/testkit';
import { EapStatus, createEap, encodeAction, buildAction, replayToNode } from './index';
import type { Eap } from './index';

const snapshot = new TextEncoder().encode('camera frame 42');
const dir = mkdtempSync(join(tmpdir(), 'eap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open: Eap[] = [];
afterEach(async () => {
  for (const e of open.splice(0)) await e.close();
});

/** A Meter that records what is measured (the OpenTelemetry API interface, no SDK). */
function recordingMeter(): { meter: Meter; records: { name: string; value: number; attrs: unknown }[] } {
  const records: { name: string; value: number; attrs: unknown }[] = [];
  const instrument = (name: string) => ({
    record: (value: number, attrs?: unknown) => records.push({ name, value, attrs }),
    add: (value: number, attrs?: unknown) => records.push({ name, value, attrs }),
  });
  const meter = { createHistogram: instrument, createCounter: instrument } as unknown as Meter;
  return { meter, records };
}

async function pair(options: { robotClock?: Clock; meter?: Meter; log?: boolean } = {}) {
  const bus = new MemoryBus();
  const controller = await createEap({
    transport: memoryTransport({ nodeId: 'planner', bus }),
    nodeId: 'planner',
    resultTimeoutMs: 5000,
    ...(options.log ? { log: { dir: join(dir, 'planner') } } : {}),
  });
  const robot = await createEap({
    transport: memoryTransport({ nodeId: 'arm-1', bus }),
    nodeId: 'arm-1',
    ...(options.robotClock ? { clock: options.robotClock } : {}),
    ...(options.meter ? { meter: options.meter } : {}),
    ...(options.log ? { log: { dir: join(dir, 'robot') } } : {}),
  });
  open.push(controller, robot);
  return { bus, controller, robot };
}

describe('createEap', () => {
  it('delivers an action to its handler and the result back to the sender', async () => {
    const { controller, robot } = await pair();
    const seen: unknown[] = [];
    robot.onAction('gripper', (op, ctx) => {
      seen.push([op.command, ctx.sender, ctx.actionType]);
      return { grasped: 'yes' };
    });
    const { result, action } = await controller.send('gripper', { command: 'CLOSE', position: 0.2 }, { snapshot });
    expect(seen).toEqual([[GripperOp_GripperCommand.CLOSE, 'planner', 'gripper']]);
    expect(result).toMatchObject({ actionId: action.id, status: EapStatus.EAP_STATUS_SUCCEEDED, nodeId: 'arm-1', detail: { grasped: 'yes' } });
    expect(isUuid(action.id)).toBe(true);
  });

  it('reports handler failures with the error code', async () => {
    const { controller, robot } = await pair();
    robot.onAction('navigate', () => {
      throw new Error('blocked path');
    });
    const { result } = await controller.send('navigate', { targetPose: { x: 1 } }, { snapshot });
    expect(result).toMatchObject({ status: EapStatus.EAP_STATUS_FAILED, errorCode: 'REMOTE_ERROR', message: 'blocked path' });
  });

  it('refuses to send without a state_sha (nothing is published)', async () => {
    const { controller, robot } = await pair();
    let calls = 0;
    robot.onAction('sim', () => void calls++);
    await expect(controller.send('sim', { duration_s: 1 }, {})).rejects.toMatchObject({ code: 'MISSING_STATE_SHA' });
    expect(calls).toBe(0);
  });

  it('stop_on_fail aborts the rest of a sequence; without it the sequence goes on', async () => {
    const { controller, robot } = await pair();
    const executed: string[] = [];
    robot.onAction('set_pose', (pose) => {
      executed.push(`pose ${pose.x}`);
      if (pose.x === 2) throw new Error('joint limit');
    });
    const step = (x: number, stopOnFail: boolean) => ({ type: 'set_pose' as const, data: { x }, options: { snapshot, stopOnFail } });
    const stopped = await controller.sendSequence([step(1, true), step(2, true), step(3, true)]);
    expect(stopped.stoppedAt).toBe(1);
    expect(stopped.results.map((r) => r.status)).toEqual([EapStatus.EAP_STATUS_SUCCEEDED, EapStatus.EAP_STATUS_FAILED, EapStatus.EAP_STATUS_SKIPPED]);
    expect(executed).toEqual(['pose 1', 'pose 2']);
    const goesOn = await controller.sendSequence([step(2, false), step(4, false)]);
    expect(goesOn.stoppedAt).toBeUndefined();
    expect(executed).toEqual(['pose 1', 'pose 2', 'pose 2', 'pose 4']);
  });

  it('discards stale actions (older than the profile EAP timeout_s) and accepts fresh ones', async () => {
    const bus = new MemoryBus();
    const robot = await createEap({ transport: memoryTransport({ nodeId: 'arm-2', bus }), nodeId: 'arm-2' });
    open.push(robot);
    const raw = memoryTransport({ nodeId: 'old', bus });
    await raw.connect();
    const executed: string[] = [];
    robot.onAction('sim', (_op, ctx) => void executed.push(ctx.action.id));
    const action = buildAction('sim', { duration_s: 1 }, { snapshot, id: 'old-1' });
    const stale = createEvent('ecps.eap.action', encodeAction(action), { source: 'urn:ecps:old', id: 'old-1', time: new Date(systemClock.now() - 1500).toISOString() });
    const results: number[] = [];
    await raw.subscribe('eap/result/old', (e) => void results.push(EAP_RESULT_STATUS(e.data)));
    await raw.publish('eap', stale);
    const fresh = { ...stale, id: 'new-1', time: new Date(systemClock.now()).toISOString(), data: encodeAction({ ...action, id: 'new-1' }) };
    await raw.publish('eap', fresh);
    await waitFor(() => results.length === 2, 'two results');
    expect(executed).toEqual(['new-1']);
    expect(results).toEqual([EapStatus.EAP_STATUS_REJECTED, EapStatus.EAP_STATUS_SUCCEEDED]);
    await raw.close();
  });

  it('rejects invalid actions with a typed result', async () => {
    const bus = new MemoryBus();
    const robot = await createEap({ transport: memoryTransport({ nodeId: 'arm-3', bus }), nodeId: 'arm-3' });
    open.push(robot);
    robot.onAction('sim', () => undefined);
    const raw = memoryTransport({ nodeId: 'bad', bus });
    await raw.connect();
    const codes: string[] = [];
    await raw.subscribe('eap/result/bad', async (e) => {
      const { EapResult } = await import('@ecps/proto/ext/v1');
      codes.push(EapResult.decode(e.data).errorCode);
    });
    const action = buildAction('sim', { duration_s: 1 }, { snapshot });
    await raw.publish('eap', createEvent('ecps.eap.action', encodeAction({ ...action, stateSha: new Uint8Array(5) }), { source: 'urn:ecps:bad' }));
    await raw.publish('eap', createEvent('ecps.eap.action', encodeAction({ ...action, spec: 'eap/9.0' }), { source: 'urn:ecps:bad' }));
    await waitFor(() => codes.length === 2, 'two rejections');
    expect(codes).toEqual(['INVALID_STATE_SHA', 'UNSUPPORTED_VERSION']);
    await raw.close();
  });

  it('measures every action against the timing budget: histogram, counter, event and result flag', async () => {
    let now = 0;
    const slowClock: Clock = { ...systemClock, monotonic: () => (now += 15) }; // each reading 15 ms later
    const { meter, records } = recordingMeter();
    const { controller, robot } = await pair({ robotClock: slowClock, meter });
    expect(robot.budgetMs).toBe(20);
    const exceeded: unknown[] = [];
    robot.onBudgetExceeded((info) => exceeded.push(info));
    robot.onAction('gripper', () => {
      now += 30; // the handler "takes" 30 ms
    });
    const { result, action } = await controller.send('gripper', { command: 'OPEN' }, { snapshot });
    expect(result?.budgetExceeded).toBe(true);
    expect(result?.durationMs).toBe(45);
    expect(exceeded).toEqual([{ actionId: action.id, actionType: 'gripper', durationMs: 45, budgetMs: 20 }]);
    expect(records.find((r) => r.name === 'ecps.eap.action.duration')).toMatchObject({ value: 45, attrs: { action_type: 'gripper', status: 'ok' } });
    expect(records.some((r) => r.name === 'ecps.eap.budget.exceeded')).toBe(true);
  });

  it('appends every sent and received action to the action logs (eap_{unix_seconds}.eaplog, exact bytes)', async () => {
    const { controller, robot } = await pair({ log: true });
    robot.onAction('set_pose', () => undefined);
    robot.onAction('gripper', () => undefined);
    const a = await controller.send('set_pose', { x: 1, frame_id: 'map' }, { snapshot });
    const b = await controller.send('gripper', { command: 'OPEN' }, { snapshot });
    const robotLog = robot.logPath as string;
    const plannerLog = controller.logPath as string;
    await controller.close();
    await robot.close();
    for (const [path, nodeId] of [[plannerLog, 'planner'], [robotLog, 'arm-1']] as const) {
      expect(path).toMatch(/eap_\d+\.eaplog$/);
      const log = await readEaplog(path);
      expect(log).toMatchObject({ layout: 'ecps-v2', version: '2.1' });
      expect(log.fields?.robotId).toBe(nodeId);
      expect(isUuid(log.fields?.sessionId ?? '')).toBe(true);
      expect(log.messages.map((m) => m.data)).toEqual([encodeAction(a.action), encodeAction(b.action)]);
      expect(EAP.decode(log.messages[0]?.data as Uint8Array).id).toBe(a.action.id);
    }
    expect(readdirSync(join(dir, 'robot'))).toHaveLength(1);

    // replay the planner's log into a fresh robot: same actions, same order, same state_sha sequence
    const again = await pair();
    const replayed: string[] = [];
    again.robot.onAction('set_pose', (_op, ctx) => void replayed.push(ctx.action.id));
    again.robot.onAction('gripper', (_op, ctx) => void replayed.push(ctx.action.id));
    const statuses: (number | undefined)[] = [];
    const sha = Buffer.from(a.action.stateSha).toString('hex');
    const outcome = await replayToNode(again.controller, plannerLog, { expectStateHashes: [sha, sha], onResult: (_i, r) => statuses.push(r?.status) });
    expect(outcome).toEqual({ replayed: 2 });
    expect(replayed).toEqual([a.action.id, b.action.id]);
    expect(statuses).toEqual([EapStatus.EAP_STATUS_SUCCEEDED, EapStatus.EAP_STATUS_SUCCEEDED]);
    const diverged = await replayToNode(again.controller, plannerLog, { expectStateHashes: [sha, '00'.repeat(32)] });
    expect(diverged.divergence).toMatchObject({ index: 1 });
  });

  it('times out without a robot and fails pending sends on close', async () => {
    const bus = new MemoryBus();
    const lonely = await createEap({ transport: memoryTransport({ nodeId: 'solo', bus }), nodeId: 'solo', resultTimeoutMs: 50 });
    await expect(lonely.send('sim', {}, { snapshot })).rejects.toMatchObject({ code: 'TIMEOUT' });
    const pending = lonely.send('sim', {}, { snapshot, timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 10));
    await lonely.close();
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(lonely.send('sim', {}, { snapshot })).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

function EAP_RESULT_STATUS(data: Uint8Array): number {
  // field 3 (status) of EapResult, read with the generated decoder
  return EapResultDecode(data).status;
}
import { EapResult as EapResultMessage } from '@ecps/proto/ext/v1';
const EapResultDecode = (data: Uint8Array) => EapResultMessage.decode(data);
