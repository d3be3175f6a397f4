// SPDX-License-Identifier: Apache-2.0
// Model-based test: the router against a model of "accepted and not yet acknowledged" per recipient, through
// sends, stream (re)connects, delivery acks, lease expiry and crash/restart. No accepted message is ever lost,
// and a connected agent has every outstanding message in flight (delivered until acknowledged).
import { afterAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ManualClock } from '@ecps/core';
import { Envelope } from '@ecps/sw4rm/proto';
import { Sw4rmRouter } from '../src/index';
import { Sink, data, removeTmpDirs, tmpDb } from './helpers';

const AGENTS = ['a', 'b', 'c'] as const;
type Agent = (typeof AGENTS)[number];
const LEASE = 30_000;

interface Model {
  outstanding: Map<Agent, Set<string>>;
  connected: Set<Agent>;
}
interface Real {
  router: Sw4rmRouter;
  dbPath: string;
  clock: ManualClock;
  sessions: Map<Agent, { sink: Sink; close: () => void }>;
  /** The last sink of each agent, kept after disconnects and crashes: late acks come from there. */
  lastSink: Map<Agent, Sink>;
}

async function settle(real: Real): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await real.router.idle();
    for (let j = 0; j < 5; j++) await new Promise((r) => setImmediate(r));
  }
}

async function checkInvariants(model: Model, real: Real): Promise<void> {
  await settle(real);
  for (const agent of AGENTS) {
    const rows = real.router.pendingFor(agent);
    expect(new Set(rows.map((r) => r.messageId))).toEqual(model.outstanding.get(agent));
    if (model.connected.has(agent)) {
      expect(rows.every((r) => r.state === 'IN_FLIGHT')).toBe(true);
      const got = new Set(real.sessions.get(agent)!.sink.items.map((i) => i.env.messageId));
      for (const id of model.outstanding.get(agent)!) expect(got.has(id)).toBe(true);
    }
  }
}

class Send implements fc.AsyncCommand<Model, Real> {
  constructor(readonly producer: Agent) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const env = data(this.producer);
    const res = await real.router.sendMessage(Envelope.encode(env).finish());
    expect(res).toEqual({ accepted: true, reason: 'Message delivered to 2 recipients' });
    for (const a of AGENTS) if (a !== this.producer) model.outstanding.get(a)!.add(env.messageId);
    await checkInvariants(model, real);
  }
  toString = () => `send(${this.producer})`;
}

class Connect implements fc.AsyncCommand<Model, Real> {
  constructor(readonly agent: Agent) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const sink = new Sink();
    const close = await real.router.openStream(this.agent, sink);
    real.sessions.set(this.agent, { sink, close });
    real.lastSink.set(this.agent, sink);
    model.connected.add(this.agent);
    await checkInvariants(model, real);
  }
  toString = () => `connect(${this.agent})`;
}

class Disconnect implements fc.AsyncCommand<Model, Real> {
  constructor(readonly agent: Agent) {}
  check = (m: Readonly<Model>) => m.connected.has(this.agent);
  async run(model: Model, real: Real): Promise<void> {
    real.sessions.get(this.agent)!.close();
    real.sessions.delete(this.agent);
    model.connected.delete(this.agent);
    await checkInvariants(model, real);
  }
  toString = () => `disconnect(${this.agent})`;
}

class Ack implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly agent: Agent,
    readonly pick: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const items = real.lastSink.get(this.agent)?.items ?? [];
    if (items.length === 0) return;
    const item = items[this.pick % items.length]!;
    const row = real.router.pendingFor(this.agent).find((r) => r.seq === item.seq);
    const recorded = await real.router.ackDelivery({ agentId: this.agent, seq: item.seq, messageId: item.env.messageId, outcome: 0 });
    expect(recorded).toBe(row?.state === 'IN_FLIGHT');
    if (recorded) model.outstanding.get(this.agent)!.delete(item.env.messageId);
    await checkInvariants(model, real);
  }
  toString = () => `ack(${this.agent}, #${this.pick})`;
}

class LeaseExpiry implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    real.clock.advance(LEASE + 1000);
    await checkInvariants(model, real);
  }
  toString = () => 'lease-expiry';
}

class CrashRestart implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    real.sessions.clear();
    // as kill -9: no clean close, whatever is not yet written is lost with the process
    await real.router.crash();
    real.router = await Sw4rmRouter.open({ dbPath: real.dbPath, clock: real.clock, leaseMs: LEASE, maxQueue: 1000, maxInFlight: 1000 });
    model.connected.clear();
    await checkInvariants(model, real);
  }
  toString = () => 'crash-restart';
}

afterAll(removeTmpDirs);

describe('router model (fast-check commands)', () => {
  it('never loses an accepted message; delivers each until acknowledged', async () => {
    const agent = fc.constantFrom(...AGENTS);
    const commands = fc.commands(
      [
        agent.map((a) => new Send(a)),
        agent.map((a) => new Connect(a)),
        agent.map((a) => new Disconnect(a)),
        fc.tuple(agent, fc.nat(50)).map(([a, n]) => new Ack(a, n)),
        fc.constant(new LeaseExpiry()),
        fc.constant(new CrashRestart()),
      ],
      { maxCommands: 30 },
    );
    await fc.assert(
      fc.asyncProperty(commands, async (cmds) => {
        const clock = new ManualClock();
        const dbPath = tmpDb();
        const router = await Sw4rmRouter.open({ dbPath, clock, leaseMs: LEASE, maxQueue: 1000, maxInFlight: 1000 });
        for (const a of AGENTS) await router.addKnownAgent(a);
        const real: Real = { router, dbPath, clock, sessions: new Map(), lastSink: new Map() };
        const model: Model = { outstanding: new Map(AGENTS.map((a) => [a, new Set<string>()])), connected: new Set() };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
        } finally {
          await real.router.close();
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
