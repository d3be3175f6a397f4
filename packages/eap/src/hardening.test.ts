// SPDX-License-Identifier: Apache-2.0
// Forged peers cannot act: redelivered actions run once, results count only from the node the action was sent to
// (and, with the trust layer, only when authenticated), actions without a sound `time` are stale, and every range
// the builders check is checked again on the receiving side before a handler runs.
import { afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock, nodeSource, systemClock } from '@ecps/core';
import type { EcpsEvent, Transport } from '@ecps/core';
import type { EAP } from '@ecps/proto';
import { EapResult } from '@ecps/proto/ext/v1';
import { createEvent, encodeMessageEvent } from '@ecps/serialization';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { faultyTransport, sleep, waitFor } from '@ecps/testkit';
import { IdentitySigner, KeyDirectory, SoftwareKeyProvider, secureTransport } from '@ecps/trust';
import { EAP_RESULT_EVENT_TYPE, EapStatus, buildAction, createEap, encodeAction } from './index';
import type { Eap, EapOptions } from './index';

const snapshot = new TextEncoder().encode('camera frame 7');
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function endpoint(options: EapOptions): Promise<Eap> {
  const eap = await createEap(options);
  closers.push(() => eap.close());
  return eap;
}

async function raw(nodeId: string, bus: MemoryBus): Promise<Transport> {
  const t = memoryTransport({ nodeId, bus });
  await t.connect();
  closers.push(() => t.close());
  return t;
}

/** Results published to `to` by anyone, decoded. */
async function resultsFor(t: Transport, to: string): Promise<EapResult[]> {
  const seen: EapResult[] = [];
  await t.subscribe(`eap/result/${to}`, (e) => void seen.push(EapResult.decode(e.data)));
  return seen;
}

const actionEvent = (action: EAP, source: string, extra: Partial<EcpsEvent> = {}): EcpsEvent => ({
  ...createEvent('ecps.eap.action', encodeAction(action), { source: nodeSource(source), id: action.id }),
  ...extra,
});

describe('QoS 1 redelivery: an action runs once', () => {
  it('without trust: every action delivered twice, each handler runs once', async () => {
    const bus = new MemoryBus();
    const robot = await endpoint({ transport: memoryTransport({ nodeId: 'arm-1', bus }), nodeId: 'arm-1' });
    const doubled = faultyTransport(memoryTransport({ nodeId: 'planner', bus }), { duplicateRate: 1, match: (e) => e.type === 'ecps.eap.action' });
    const planner = await endpoint({ transport: doubled, nodeId: 'planner', resultTimeoutMs: 5000 });
    const runs: string[] = [];
    robot.onAction('gripper', (_op, ctx) => void runs.push(ctx.action.id));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await planner.send('gripper', { command: 'OPEN' }, { snapshot, to: 'arm-1' })).action.id);
    await sleep(20);
    expect(doubled.faults.duplicated).toBe(5);
    expect(runs).toEqual(ids);
  });

  it('with trust: a redelivered envelope is refused by the trust layer, a re-sent action by EAP', async () => {
    const bus = new MemoryBus();
    const keys = new KeyDirectory();
    const node = async (id: string, wrap: (t: Transport) => Transport = (t) => t): Promise<Transport> => {
      const provider = new SoftwareKeyProvider();
      await provider.generateKey(`${id}-k`, 'ed25519');
      const identity = { id, keyId: `${id}-k`, provider };
      keys.add(await new IdentitySigner(identity).trustedKey());
      return secureTransport(wrap(memoryTransport({ nodeId: id, bus })), { identity, keys, level: 'authenticated', confidentiality: false });
    };
    const robot = await endpoint({ transport: await node('arm-1'), nodeId: 'arm-1' });
    const runs: string[] = [];
    robot.onAction('gripper', (_op, ctx) => void runs.push(ctx.action.id));
    // below the trust layer: the same signed envelope twice (what a broker's redelivery looks like)
    const below = await node('planner-a', (t) => faultyTransport(t, { duplicateRate: 1, match: (e) => e.type !== EAP_RESULT_EVENT_TYPE }));
    const plannerA = await endpoint({ transport: below, nodeId: 'planner-a', resultTimeoutMs: 5000 });
    // above the trust layer: the same action signed twice (a sender retrying after a lost result)
    const above = faultyTransport(await node('planner-b'), { duplicateRate: 1, match: (e) => e.type === 'ecps.eap.action' });
    const plannerB = await endpoint({ transport: above, nodeId: 'planner-b', resultTimeoutMs: 5000 });
    const a = await plannerA.send('gripper', { command: 'OPEN' }, { snapshot, to: 'arm-1' });
    const b = await plannerB.send('gripper', { command: 'CLOSE' }, { snapshot, to: 'arm-1' });
    await sleep(20);
    expect(above.faults.duplicated).toBe(1);
    expect(runs).toEqual([a.action.id, b.action.id]);
  });

  it('bounded memory: past maxTrackedActions the oldest are forgotten, and an action older than them is refused, never run twice', async () => {
    const clock = new ManualClock(systemClock.now());
    const bus = new MemoryBus();
    const robot = await endpoint({ transport: memoryTransport({ nodeId: 'arm-1', bus }), nodeId: 'arm-1', clock, maxTrackedActions: 3 });
    const runs: string[] = [];
    robot.onAction('sim', (_op, ctx) => void runs.push(ctx.action.id));
    const sender = await raw('planner', bus);
    const results = await resultsFor(sender, 'planner');
    const events = Array.from({ length: 5 }, (_, i) => {
      const action = buildAction('sim', { duration_s: 1 }, { snapshot, id: `a-${i}` });
      return actionEvent(action, 'planner', { time: new Date(clock.now() + i).toISOString() });
    });
    for (const e of events) await sender.publish('eap', e);
    await waitFor(() => results.length === 5, 'five results');
    for (const e of events) await sender.publish('eap', e); // all five redelivered
    await waitFor(() => results.length >= 7, 'answers to the redeliveries');
    await sleep(10);
    expect(runs).toEqual(['a-0', 'a-1', 'a-2', 'a-3', 'a-4']);
    const refused = results.slice(5).filter((r) => r.status === EapStatus.EAP_STATUS_REJECTED);
    expect(refused.map((r) => [r.actionId, r.errorCode])).toEqual([
      ['a-0', 'REPLAY_DETECTED'],
      ['a-1', 'REPLAY_DETECTED'],
    ]);
  });
});

describe('results count only from the node the action was sent to', () => {
  it('a faster answer from another node is dropped; another actuator does not act on an action addressed elsewhere', async () => {
    const bus = new MemoryBus();
    const planner = await endpoint({ transport: memoryTransport({ nodeId: 'planner', bus }), nodeId: 'planner', resultTimeoutMs: 5000 });
    const arm1 = await endpoint({ transport: memoryTransport({ nodeId: 'arm-1', bus }), nodeId: 'arm-1' });
    const arm2 = await endpoint({ transport: memoryTransport({ nodeId: 'arm-2', bus }), nodeId: 'arm-2' });
    const acted: string[] = [];
    arm1.onAction('gripper', async () => {
      await sleep(30);
      acted.push('arm-1');
      return { by: 'arm-1' };
    });
    arm2.onAction('gripper', () => void acted.push('arm-2'));
    // an intruder answers every action at once, claiming success (and even arm-1's node id in the body)
    const intruder = await raw('intruder', bus);
    await intruder.subscribe('eap', async (e) => {
      const forged: EapResult = { actionId: e.id, actionType: 'gripper', status: EapStatus.EAP_STATUS_SUCCEEDED, errorCode: '', message: '', durationMs: 0, budgetExceeded: false, nodeId: 'arm-1', detail: { by: 'intruder' } };
      await intruder.publish('eap/result/planner', encodeMessageEvent(EAP_RESULT_EVENT_TYPE, EapResult, forged, { source: nodeSource('intruder'), extensions: { correlationid: e.id } }));
    });
    const { result } = await planner.send('gripper', { command: 'CLOSE' }, { snapshot, to: 'arm-1' });
    expect(result).toMatchObject({ nodeId: 'arm-1', detail: { by: 'arm-1' } });
    await sleep(10);
    expect(acted).toEqual(['arm-1']);
  });

  it('with trust at AUTHENTICATED, a result forged in arm-1\'s name is refused and the real one is taken', async () => {
    const bus = new MemoryBus();
    const keys = new KeyDirectory();
    const secured = async (id: string): Promise<Transport> => {
      const provider = new SoftwareKeyProvider();
      await provider.generateKey(`${id}-k`, 'ed25519');
      const identity = { id, keyId: `${id}-k`, provider };
      keys.add(await new IdentitySigner(identity).trustedKey());
      return secureTransport(memoryTransport({ nodeId: id, bus }), { identity, keys, level: 'authenticated', confidentiality: false });
    };
    const planner = await endpoint({ transport: await secured('planner'), nodeId: 'planner', resultTimeoutMs: 5000 });
    const arm = await endpoint({ transport: await secured('arm-1'), nodeId: 'arm-1' });
    arm.onAction('gripper', async () => {
      await sleep(30);
      return { by: 'arm-1' };
    });
    // an enrolled node that turned hostile: its own signatures verify, but it is not the node the action went to
    const insider = await secured('insider');
    await insider.connect();
    closers.push(() => insider.close());
    const forged = (actionId: string, source: string): EcpsEvent =>
      encodeMessageEvent(
        EAP_RESULT_EVENT_TYPE,
        EapResult,
        { actionId, actionType: 'gripper', status: EapStatus.EAP_STATUS_SUCCEEDED, errorCode: '', message: '', durationMs: 0, budgetExceeded: false, nodeId: 'arm-1', detail: { by: 'forger' } },
        { source: nodeSource(source), extensions: { correlationid: actionId } },
      );
    await insider.subscribe('eap', async (e) => {
      await insider.publish('eap/result/planner', forged(e.id, 'insider')); // its own name: EAP refuses
      await insider.publish('eap/result/planner', forged(e.id, 'arm-1')); // arm-1's name: the trust layer refuses
    });
    // and an outsider without an enrolled key, straight onto the bus
    const outsider = await raw('outsider', bus);
    await outsider.subscribe('eap', async (e) => outsider.publish('eap/result/planner', forged(e.id, 'arm-1')));
    const { result } = await planner.send('gripper', { command: 'OPEN' }, { snapshot, to: 'arm-1' });
    expect(result).toMatchObject({ nodeId: 'arm-1', detail: { by: 'arm-1' } });
  });
});

describe('staleness: a missing, malformed or future time is not fresh', () => {
  it.each([
    ['missing', undefined],
    ['malformed', 'yesterday at noon'],
    ['not RFC 3339', new Date(systemClock.now()).toUTCString()],
    ['an hour ahead', new Date(systemClock.now() + 3_600_000).toISOString()],
    ['1.5 s old', new Date(systemClock.now() - 1500).toISOString()],
  ])('%s time: REJECTED with STALE_MESSAGE, the handler never runs', async (_name, time) => {
    const bus = new MemoryBus();
    const robot = await endpoint({ transport: memoryTransport({ nodeId: 'arm-1', bus }), nodeId: 'arm-1' });
    let runs = 0;
    robot.onAction('sim', () => void runs++);
    const sender = await raw('planner', bus);
    const results = await resultsFor(sender, 'planner');
    const { time: _fresh, ...timeless } = actionEvent(buildAction('sim', { duration_s: 1 }, { snapshot, id: 'x-1' }), 'planner');
    const event: EcpsEvent = time === undefined ? timeless : { ...timeless, time };
    await sender.publish('eap', event);
    await waitFor(() => results.length === 1, 'a result');
    expect(results[0]).toMatchObject({ status: EapStatus.EAP_STATUS_REJECTED, errorCode: 'STALE_MESSAGE' });
    expect(runs).toBe(0);
  });

  it('a fresh time is accepted', async () => {
    const bus = new MemoryBus();
    const robot = await endpoint({ transport: memoryTransport({ nodeId: 'arm-1', bus }), nodeId: 'arm-1' });
    robot.onAction('sim', () => undefined);
    const sender = await raw('planner', bus);
    const results = await resultsFor(sender, 'planner');
    await sender.publish('eap', actionEvent(buildAction('sim', {}, { snapshot }), 'planner'));
    await waitFor(() => results.length === 1, 'a result');
    expect(results[0]?.status).toBe(EapStatus.EAP_STATUS_SUCCEEDED);
  });
});

describe('the receiving side checks every range the builders check', () => {
  const valid = buildAction('set_pose', { x: 1 }, { snapshot, id: 'p' });
  const pose = valid.body?.$case === 'setPose' ? valid.body.value : undefined;
  const withBody = (body: EAP['body'], id: string): EAP => ({ ...valid, id, body });
  const cases: [string, EAP][] = [
    ['gripper position above 1', withBody({ $case: 'gripper', value: { command: 2, position: 1.5, forceLimit: 1 } }, 'g1')],
    ['gripper position NaN', withBody({ $case: 'gripper', value: { command: 2, position: Number.NaN, forceLimit: 1 } }, 'g2')],
    ['negative gripper force', withBody({ $case: 'gripper', value: { command: 1, position: 0.5, forceLimit: -3 } }, 'g3')],
    ['gripper without a command', withBody({ $case: 'gripper', value: { command: 0, position: 0.5, forceLimit: 1 } }, 'g4')],
    ['infinite position', withBody({ $case: 'setPose', value: { ...pose!, x: Number.POSITIVE_INFINITY } }, 'p1')],
    ['zero quaternion', withBody({ $case: 'setPose', value: { ...pose!, qw: 0 } }, 'p2')],
    ['quaternion of length 2', withBody({ $case: 'setPose', value: { ...pose!, qw: 2 } }, 'p3')],
    ['negative sim duration', withBody({ $case: 'sim', value: { durationS: -1, physicsSteps: 0, renderFrame: false } }, 's1')],
    ['negative navigate speed', withBody({ $case: 'navigate', value: { targetPose: pose, maxVelocity: -1, tolerance: 0, plannerId: '' } }, 'n1')],
    ['negative manipulate force', withBody({ $case: 'manipulate', value: { type: 1, targetPose: undefined, objectId: 'cup', approachDistance: 0, forceThreshold: -1 } }, 'm1')],
  ];
  it('each violation is REJECTED (INVALID_ARGUMENT) and no handler runs; valid actions still run', async () => {
    const bus = new MemoryBus();
    const robot = await endpoint({ transport: memoryTransport({ nodeId: 'arm-1', bus }), nodeId: 'arm-1' });
    const ran: string[] = [];
    for (const type of ['set_pose', 'gripper', 'sim', 'navigate', 'manipulate'] as const) robot.onAction(type, (_op, ctx) => void ran.push(ctx.action.id));
    const sender = await raw('planner', bus);
    const results = await resultsFor(sender, 'planner');
    for (const [, action] of cases) await sender.publish('eap', actionEvent(action, 'planner'));
    await sender.publish('eap', actionEvent(valid, 'planner'));
    await waitFor(() => results.length === cases.length + 1, 'every result');
    expect(results.slice(0, cases.length).map((r) => [r.actionId, r.errorCode])).toEqual(cases.map(([, a]) => [a.id, 'INVALID_ARGUMENT']));
    expect(ran).toEqual(['p']);
  });
});
