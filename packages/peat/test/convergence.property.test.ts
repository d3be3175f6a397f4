// SPDX-License-Identifier: Apache-2.0
// Checklist item 16, property: random edits on 3 replicas under reordering, duplication, loss and a partition
// that heals. Every replica ends equal and no acknowledged edit is lost. 200 seeds by default
// (PEAT_PROPERTY_RUNS / PEAT_PROPERTY_SEED to change; a failure prints the seed and the shrunk case).
import { afterEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { policyFor } from '../src/policy';
import { orSetAdd, orSetRemove } from '../src/store/document';
import { Sim } from './harness';

const RUNS = Number(process.env['PEAT_PROPERTY_RUNS'] ?? 200);
const SEED = Number(process.env['PEAT_PROPERTY_SEED'] ?? 20_240_601);
const DOCS = ['events:a', 'events:b', 'tracks:t'];
// the OR-set field is declared, so independent creations of a document share one map
const policies = {
  events: { ...policyFor('events'), sets: ['members'] },
  tracks: { ...policyFor('tracks'), sets: ['members'] },
};

type Op =
  | { kind: 'set'; node: number; doc: number; field: number; value: number }
  | { kind: 'add'; node: number; doc: number }
  | { kind: 'remove'; node: number; doc: number; which: number }
  | { kind: 'partition'; split: number }
  | { kind: 'heal' }
  | { kind: 'wait'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), node: fc.nat(2), doc: fc.nat(2), field: fc.nat(3), value: fc.nat(1000) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('add' as const), node: fc.nat(2), doc: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), node: fc.nat(2), doc: fc.nat(2), which: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('partition' as const), split: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'heal' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 400 }) }) },
);

const faults = fc.record({
  seed: fc.nat(1_000_000),
  lossRate: fc.double({ min: 0, max: 0.25, noNaN: true }),
  duplicateRate: fc.double({ min: 0, max: 0.25, noNaN: true }),
  maxLatencyMs: fc.integer({ min: 1, max: 80 }),
  // one run in four with keys, the mutual handshake and signed changes
  secure: fc.nat(3).map((n) => n === 0),
});

let sim: Sim | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

describe('checklist 16: convergence property', () => {
  it(`${RUNS} seeded runs: random edits under reorder, duplication, loss and partition-then-heal end equal, losing no acknowledged edit`, async () => {
    await fc.assert(
      fc.asyncProperty(faults, fc.array(op, { minLength: 3, maxLength: 14 }), async (f, ops) => {
        sim = await Sim.create({
          nodes: 3,
          seed: f.seed,
          secure: f.secure,
          replica: { policies },
          network: { lossRate: f.lossRate, duplicateRate: f.duplicateRate, minLatencyMs: 1, maxLatencyMs: f.maxLatencyMs },
        });
        const s = sim;
        await s.connect(120_000);
        // what each acknowledged write left behind
        const added = new Map<string, Set<string>>();
        const removed = new Map<string, Set<string>>();
        const written = new Map<string, Set<number>>();
        let seq = 0;
        for (const o of ops) {
          if (o.kind === 'partition') s.network.partition([[s.nodes[o.split]!.id], s.nodes.filter((_, i) => i !== o.split).map((n) => n.id)]);
          else if (o.kind === 'heal') s.network.heal();
          else if (o.kind === 'wait') await s.run(() => false, o.ms);
          else {
            const [collection, id] = DOCS[o.doc]!.split(':') as [string, string];
            const replica = s.nodes[o.node]!.replica;
            if (o.kind === 'set') {
              const key = `${DOCS[o.doc]}/f${o.field}`;
              await replica.change(collection, id, (d) => {
                d[`f${o.field}`] = o.value;
              });
              written.set(key, (written.get(key) ?? new Set()).add(o.value));
            } else if (o.kind === 'add') {
              const member = `m${seq++}`;
              await replica.change(collection, id, (d) => orSetAdd(d, 'members', member, { by: o.node }));
              added.set(DOCS[o.doc]!, (added.get(DOCS[o.doc]!) ?? new Set()).add(member));
            } else {
              const current = (await replica.get(collection, id))?.['members'] as Record<string, unknown> | undefined;
              const ids = Object.keys(current ?? {});
              if (ids.length === 0) continue;
              const member = ids[o.which % ids.length]!;
              await replica.change(collection, id, (d) => orSetRemove(d, 'members', member));
              removed.set(DOCS[o.doc]!, (removed.get(DOCS[o.doc]!) ?? new Set()).add(member));
            }
          }
        }
        s.network.heal();
        const values = async () => Promise.all(s.nodes.map(async (n) => Promise.all(DOCS.map((k) => n.replica.get(...(k.split(':') as [string, string]))))));
        const equal = await s.run(async () => {
          const v = (await values()).map((x) => JSON.stringify(x));
          return v.every((x) => x === v[0]);
        }, 300_000);
        expect(equal).toBe(true);
        const [final] = await values();
        for (const [i, key] of DOCS.entries()) {
          const doc = final![i] as Record<string, unknown> | undefined;
          const members = (doc?.['members'] ?? {}) as Record<string, unknown>;
          for (const m of added.get(key) ?? []) {
            // an add survives unless it was removed (a concurrent re-add would survive too: add-wins)
            if (!removed.get(key)?.has(m)) expect(members).toHaveProperty(m);
          }
          for (let field = 0; field < 4; field++) {
            const w = written.get(`${key}/f${field}`);
            if (w) expect(w.has(doc?.[`f${field}`] as number)).toBe(true);
          }
        }
        await s.stop();
        sim = undefined;
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  }, 600_000);
});
