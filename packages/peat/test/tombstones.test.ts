// SPDX-License-Identifier: Apache-2.0
// Checklist item 17: tombstone frames round-trip; no resurrection; a tombstone blocks later sync; the batch is
// exchanged on connect; alerts are update-wins; TTL expiry.
import { afterEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeFrame, decodeTombstone, decodeTombstoneBatch, encodeFrame, encodeTombstone, encodeTombstoneBatch, FrameType } from '../src/frame';
import type { Tombstone } from '../src/frame';
import { Sim } from './harness';

let sim: Sim | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

const tombstone = fc.record(
  {
    collection: fc.string({ minLength: 1, maxLength: 20 }),
    documentId: fc.string({ minLength: 1, maxLength: 40 }),
    deletedAt: fc.nat(),
    deletedBy: fc.string({ minLength: 1, maxLength: 32 }),
    lamport: fc.nat(),
    reason: fc.string({ maxLength: 30 }),
  },
  { requiredKeys: ['collection', 'documentId', 'deletedAt', 'deletedBy', 'lamport'] },
) as fc.Arbitrary<Tombstone>;

describe('checklist 17: tombstones', () => {
  it('Tombstone and TombstoneBatch frames round-trip', () => {
    fc.assert(
      fc.property(fc.array(tombstone, { maxLength: 5 }), (ts) => {
        for (const t of ts) {
          const f = decodeFrame(encodeFrame(encodeTombstone(t)));
          expect(f.type).toBe(FrameType.Tombstone);
          expect(decodeTombstone(f.payload)).toEqual(t);
        }
        const batch = decodeFrame(encodeFrame(encodeTombstoneBatch(ts)));
        expect(decodeTombstoneBatch(batch.payload)).toEqual(ts);
      }),
    );
  });

  it('a deleted document is not resurrected by a peer that missed the delete, and the tombstone blocks later sync', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    const [a, b] = sim.nodes;
    await a!.replica.put('tracks', 't1', { lat: 1 });
    expect(await sim.converge('tracks', 't1')).toBe(true);
    sim.network.partition([[a!.id], [b!.id]]);
    await a!.replica.delete('tracks', 't1', 'lost track');
    // b keeps editing its copy while cut off
    await b!.replica.put('tracks', 't1', { lat: 2 });
    sim.network.heal();
    const gone = await sim.run(async () => (await b!.replica.get('tracks', 't1')) === undefined, 60_000);
    expect(gone).toBe(true);
    await sim.run(() => false, 15_000);
    expect(await a!.replica.get('tracks', 't1')).toBeUndefined();
    // a write after the delete is refused locally too
    await expect(b!.replica.put('tracks', 't1', { lat: 3 })).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('the tombstone batch is exchanged on connect (a node that was away learns the delete)', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    const [a, b] = sim.nodes;
    await a!.replica.put('nodes', 'x', { v: 1 });
    expect(await sim.converge('nodes', 'x')).toBe(true);
    await b!.replica.stop();
    await a!.replica.delete('nodes', 'x');
    // b is away long enough for the tombstone a sent it to be lost (restarted at once, b would simply receive it)
    await sim.run(() => false, 100);
    const tombstonesBefore = a!.replica.stats.tombstonesOut;
    await b!.replica.start();
    const learned = await sim.run(async () => (await b!.replica.get('nodes', 'x')) === undefined && b!.replica.store.liveTombstone('nodes:x') !== undefined);
    expect(learned).toBe(true);
    expect(a!.replica.stats.tombstonesOut).toBeGreaterThan(tombstonesBefore);
  });

  it('alerts are update-wins: an update after the delete voids the tombstone', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    const [a, b] = sim.nodes;
    await a!.replica.put('alerts', 'al', { level: 1 });
    expect(await sim.converge('alerts', 'al')).toBe(true);
    sim.network.partition([[a!.id], [b!.id]]);
    await a!.replica.delete('alerts', 'al');
    await sim.run(() => false, 10);
    await b!.replica.put('alerts', 'al', { level: 3 });
    sim.network.heal();
    const kept = await sim.converge('alerts', 'al');
    expect(kept).toBe(true);
    expect(await a!.replica.get('alerts', 'al')).toMatchObject({ level: 3 });
    expect(a!.replica.store.liveTombstone('alerts:al')).toBeUndefined();
  });

  it('tracks are delete-wins: the same race ends deleted', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    const [a, b] = sim.nodes;
    await a!.replica.put('tracks', 'tr', { level: 1 });
    expect(await sim.converge('tracks', 'tr')).toBe(true);
    sim.network.partition([[a!.id], [b!.id]]);
    await a!.replica.delete('tracks', 'tr');
    await sim.run(() => false, 10);
    await b!.replica.put('tracks', 'tr', { level: 3 });
    sim.network.heal();
    expect(await sim.run(async () => (await b!.replica.get('tracks', 'tr')) === undefined)).toBe(true);
  });

  it('tombstones expire after their TTL and implicit-TTL documents disappear', async () => {
    sim = await Sim.create({ nodes: 1 });
    const [a] = sim.nodes;
    await a!.replica.put('tracks', 'old', { v: 1 });
    await a!.replica.delete('tracks', 'old');
    await a!.replica.put('beacons', a!.id, { geohash: 'u4pruyd' });
    expect(a!.replica.store.liveTombstone('tracks:old')).toBeDefined();
    await sim.run(() => false, 3_600_000 + 10_000);
    expect(a!.replica.store.liveTombstone('tracks:old')).toBeUndefined();
    expect(await a!.replica.get('beacons', a!.id)).toBeUndefined();
    expect(a!.replica.store.keys('beacons')).toEqual([]);
    // expired: the id is free again
    await a!.replica.put('tracks', 'old', { v: 2 });
    expect(await a!.replica.get('tracks', 'old')).toMatchObject({ v: 2 });
  });

  it('soft delete hides a document everywhere', async () => {
    sim = await Sim.create({ nodes: 2 });
    await sim.connect();
    const [a, b] = sim.nodes;
    await a!.replica.put('events', 'e', { v: 1 });
    expect(await sim.converge('events', 'e')).toBe(true);
    expect(await a!.replica.delete('events', 'e')).toBeUndefined();
    expect(await sim.run(async () => (await b!.replica.get('events', 'e')) === undefined)).toBe(true);
    expect(await b!.replica.list('events')).toEqual([]);
  });
});
