// SPDX-License-Identifier: Apache-2.0
// @ecps/peat against a raw Automerge generateSyncMessage/receiveSyncMessage loop in the same run:
// - sync throughput between two replicas, one change per sync round (unsigned and signed);
// - B4 (spec §9): bytes of a single-field delta (the change, and the frame on the wire) vs a full-summary snapshot
//   (a real 8-member squad summary of @ecps/peat-hierarchy);
// - 24 replicas converging after a partition heals (wall time), on the in-memory network with a virtual clock.
import * as A from '@automerge/automerge';
import { seededRandom } from '@ecps/core';
import { CapabilityType, FrameType, Health, MemoryNetwork, MutualHandshake, PeatReplica, VirtualClock, encodeFrame, identityFromKeyProvider, meshTransport } from '@ecps/peat';
import type { NodeIdentity } from '@ecps/peat';
import { squadSummary } from '@ecps/peat-hierarchy';
import type { SquadSource } from '@ecps/peat-hierarchy';
import { SoftwareKeyProvider } from '@ecps/trust';
import type { BenchCase } from '../harness';

type Doc = A.Doc<Record<string, unknown>>;
const CHANGES = 300;

interface Mesh {
  clock: VirtualClock;
  network: MemoryNetwork;
  replicas: PeatReplica[];
}

const keys = new SoftwareKeyProvider();
let keySeq = 0;

async function mesh(n: number, signed = false): Promise<Mesh> {
  const clock = new VirtualClock();
  const network = new MemoryNetwork({ clock, seed: 1, minLatencyMs: 1, maxLatencyMs: 5 });
  const replicas: PeatReplica[] = [];
  for (let i = 0; i < n; i++) {
    let identity: NodeIdentity | undefined;
    if (signed) {
      const id = `bench-${keySeq++}`;
      await keys.generateKey(id, 'ed25519');
      identity = await identityFromKeyProvider(keys, id);
    }
    const nodeId = identity?.nodeId ?? `n${i}`;
    const transport = meshTransport({
      link: network.link(nodeId),
      clock,
      random: seededRandom(i),
      ...(identity ? { handshake: new MutualHandshake({ formationId: 'bench', formationSecret: Buffer.alloc(32, 1).toString('base64'), identity, clock, random: seededRandom(100 + i) }) } : {}),
    });
    const replica = await PeatReplica.open({ transport, clock, random: seededRandom(200 + i), ...(identity ? { identity } : {}) });
    await replica.start();
    replicas.push(replica);
  }
  await run(clock, () => replicas.every((r) => r.peers().length === n - 1), 60_000);
  return { clock, network, replicas };
}

/** Runs simulated time until `done()`; throws if it does not hold within `maxMs` (unless `expectDone` is false). */
async function run(clock: VirtualClock, done: () => boolean | Promise<boolean>, maxMs: number, expectDone = true): Promise<number> {
  const start = clock.now();
  const ok = await clock.run(done, maxMs);
  if (!ok && expectDone) throw new Error('did not converge');
  return clock.now() - start;
}

/** Raw Automerge: sync two docs until neither has anything to send. */
function rawSync(a: { doc: Doc; state: A.SyncState }, b: { doc: Doc; state: A.SyncState }): number {
  let bytes = 0;
  for (;;) {
    let m1: Uint8Array | null;
    let m2: Uint8Array | null;
    [a.state, m1] = A.generateSyncMessage(a.doc, a.state);
    if (m1) {
      bytes += m1.length;
      [b.doc, b.state] = A.receiveSyncMessage(b.doc, b.state, m1);
    }
    [b.state, m2] = A.generateSyncMessage(b.doc, b.state);
    if (m2) {
      bytes += m2.length;
      [a.doc, a.state] = A.receiveSyncMessage(a.doc, a.state, m2);
    }
    if (!m1 && !m2) return bytes;
  }
}

function throughput(signed: boolean): BenchCase {
  let m: Mesh | undefined;
  let round = 0;
  return {
    name: `peat sync throughput, 2 replicas, one change per sync round${signed ? ', signed changes' : ''} (vs raw Automerge sync loop)`,
    unit: 'changes/s',
    higherIsBetter: true,
    repetitions: 3,
    async setup() {
      m = await mesh(2, signed);
    },
    async teardown() {
      for (const r of m?.replicas ?? []) await r.stop();
    },
    async ours() {
      const [a, b] = m!.replicas as [PeatReplica, PeatReplica];
      const id = `doc${round++}`;
      const t = performance.now();
      for (let i = 0; i < CHANGES; i++) {
        await a.change('events', id, (d) => void (d['n'] = i));
        await run(m!.clock, async () => (await b.get('events', id))?.['n'] === i, 10_000);
      }
      return (CHANGES * 1000) / (performance.now() - t);
    },
    async baseline() {
      const a = { doc: A.init<Record<string, unknown>>(), state: A.initSyncState() };
      const b = { doc: A.init<Record<string, unknown>>(), state: A.initSyncState() };
      const t = performance.now();
      for (let i = 0; i < CHANGES; i++) {
        a.doc = A.change(a.doc, (d) => void (d['n'] = i));
        rawSync(a, b);
      }
      if (b.doc['n'] !== CHANGES - 1) throw new Error('baseline did not sync');
      return (CHANGES * 1000) / (performance.now() - t);
    },
  };
}

/** A squad summary of 8 members as a squad leader writes it (@ecps/peat-hierarchy), with metadata. */
function summary(i: number): Record<string, unknown> {
  const now = 1_750_000_000_000 + i * 1000;
  const members: SquadSource[] = Array.from({ length: 8 }, (_, m) => ({
    node_id: `p0s0m${m}`,
    state: { position: { latitude: 34 + m * 1e-4, longitude: -117, altitude: 100 }, fuel_minutes: 120 - m, health: Health.NOMINAL, phase: 3, cell_id: 'sq0', zone_id: 'pl0', timestamp: now },
    config: { capabilities: [{ id: `p0s0m${m}-radio`, name: 'radio', capability_type: CapabilityType.COMMUNICATION, confidence: 0.9, metadata: {}, registered_at: 0 }], operator_binding: null },
  }));
  return JSON.parse(JSON.stringify(squadSummary('sq0', 'p0s0m0', members, { now }))) as Record<string, unknown>;
}

const B4_UPDATES = 50;
let b4: { change: number; wire: number; snapshot: number; snapshotWire: number } | undefined;

async function measureB4(): Promise<NonNullable<typeof b4>> {
  if (b4) return b4;
  // writer and reader replicas in sync, then one field changes; what crosses the wire is one sync message
  let doc = A.from(summary(0), { actor: 'aa'.repeat(20) });
  for (let i = 1; i < B4_UPDATES; i++) doc = A.change(doc, (d) => void (d['avg_fuel_minutes'] = 143.5 + i));
  const peer = { doc: A.clone(doc, { actor: 'bb'.repeat(20) }), state: A.initSyncState() };
  const me = { doc, state: A.initSyncState() };
  rawSync(me, peer);
  me.doc = A.change(me.doc, (d) => void (d['avg_fuel_minutes'] = 999.5));
  const change = A.getLastLocalChange(me.doc)!;
  const [, message] = A.generateSyncMessage(me.doc, me.state);
  const wire = encodeFrame({ key: 'squad_summaries:squad-1', type: FrameType.DeltaSync, payload: message! }).length;
  const snap = A.save(me.doc);
  const snapshotWire = encodeFrame({ key: 'squad_summaries:squad-1', type: FrameType.StateSnapshot, payload: snap }).length;
  b4 = { change: change.length, wire, snapshot: snap.length, snapshotWire };
  console.log(`\n  B4: change ${b4.change} B, delta frame ${b4.wire} B, snapshot ${b4.snapshot} B, snapshot frame ${b4.snapshotWire} B (after ${B4_UPDATES} updates)`);
  return b4;
}

const b4Change: BenchCase = {
  name: `peat B4: bytes of a single-field change (vs full-summary snapshot after ${B4_UPDATES} updates)`,
  unit: 'bytes',
  higherIsBetter: false,
  repetitions: 1,
  ours: async () => (await measureB4()).change,
  baseline: async () => (await measureB4()).snapshot,
};

const b4Wire: BenchCase = {
  name: 'peat B4: wire bytes of a single-field delta frame (vs snapshot frame)',
  unit: 'bytes',
  higherIsBetter: false,
  repetitions: 1,
  ours: async () => (await measureB4()).wire,
  baseline: async () => (await measureB4()).snapshotWire,
};

const NODES = 24;
const convergence: BenchCase = {
  name: `peat ${NODES} replicas converge after a partition heals, wall time (vs raw Automerge full-mesh sync loop)`,
  unit: 'ms',
  higherIsBetter: false,
  repetitions: 3,
  async ours() {
    const m = await mesh(NODES);
    try {
      const half = m.replicas.map((r) => r.nodeId);
      m.network.partition([half.slice(0, NODES / 2), half.slice(NODES / 2)]);
      for (const r of m.replicas) {
        await r.put('events', r.nodeId, { by: r.nodeId, fuel: 100 });
        await r.change('events', 'shared', (d) => void (d[r.nodeId] = 1));
      }
      await run(m.clock, () => false, 2_000, false);
      const t = performance.now();
      const v0 = m.clock.now();
      m.network.heal();
      const keys = ['shared', ...half].map((k) => `events:${k}`);
      // converged when every replica holds the same heads for every document (checked every 50 simulated ms,
      // so the check itself costs little next to the sync work)
      const converged = async () => {
        for (const key of keys) {
          const first = (await m.replicas[0]!.store.heads(key)).sort().join();
          if (!first) return false;
          for (const r of m.replicas) if ((await r.store.heads(key)).sort().join() !== first) return false;
        }
        return true;
      };
      while (!(await converged())) {
        if (m.clock.now() - v0 > 120_000) throw new Error('did not converge');
        await run(m.clock, () => false, 50, false);
      }
      const wall = performance.now() - t;
      console.log(`\n  ${NODES} replicas: converged ${(m.clock.now() - v0).toFixed(0)} ms of simulated time after the heal, ${wall.toFixed(0)} ms wall`);
      return wall;
    } finally {
      for (const r of m.replicas) await r.stop();
    }
  },
  async baseline() {
    // the same docs and the same split, synced pairwise in a full mesh until quiet
    const ids = Array.from({ length: NODES }, (_, i) => `n${i}`);
    const docsOf = ids.map((id, i) => {
      const m = new Map<string, Doc>();
      m.set(id, A.from({ by: id, fuel: 100 }, { actor: i.toString(16).padStart(2, '0').repeat(20) }));
      m.set('shared', A.from({ [id]: 1 }, { actor: (i + 64).toString(16).padStart(2, '0').repeat(20) }));
      return m;
    });
    const states = new Map<string, A.SyncState>();
    const syncPair = (i: number, j: number) => {
      for (const key of new Set([...docsOf[i]!.keys(), ...docsOf[j]!.keys()])) {
        const a = { doc: docsOf[i]!.get(key) ?? A.init<Record<string, unknown>>(), state: states.get(`${i}/${j}/${key}`) ?? A.initSyncState() };
        const b = { doc: docsOf[j]!.get(key) ?? A.init<Record<string, unknown>>(), state: states.get(`${j}/${i}/${key}`) ?? A.initSyncState() };
        rawSync(a, b);
        docsOf[i]!.set(key, a.doc);
        docsOf[j]!.set(key, b.doc);
        states.set(`${i}/${j}/${key}`, a.state);
        states.set(`${j}/${i}/${key}`, b.state);
      }
    };
    const groups = [ids.slice(0, NODES / 2).map((_, i) => i), ids.slice(NODES / 2).map((_, i) => i + NODES / 2)];
    for (const g of groups) for (const i of g) for (const j of g) if (i < j) syncPair(i, j);
    const converged = () => docsOf.every((m) => m.size === NODES + 1 && Object.keys(m.get('shared')!).length === NODES);
    const t = performance.now();
    for (let pass = 0; !converged(); pass++) {
      if (pass > 5) throw new Error('baseline did not converge');
      for (let i = 0; i < NODES; i++) for (let j = i + 1; j < NODES; j++) syncPair(i, j);
    }
    return performance.now() - t;
  },
};

export default [throughput(false), throughput(true), b4Change, b4Wire, convergence];
