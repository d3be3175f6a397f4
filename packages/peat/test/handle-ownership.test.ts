// SPDX-License-Identifier: Apache-2.0
// Who owns an Automerge handle in the DocumentStore: a document is freed only inside its own serial section, and
// nothing queued behind that section can reach the freed handle. Each case interleaves a reader with a path that
// frees or replaces the document (a tombstone, an emptied sync, a replacing snapshot), using the store's own async
// methods; a gated storage adapter holds a step open where the interleaving needs a precise point.
import { describe, expect, it } from '@jest/globals';
import * as A from '@automerge/automerge';
import { DocumentStore } from '../src/store/document-store';
import { MemoryStorage } from '../src/store/storage';
import type { StorageAdapter } from '../src/store/storage';
import type { Tombstone } from '../src/frame';

const actor = (n: number) => n.toString(16).padStart(2, '0').repeat(20);
const open = (n: number, storage?: StorageAdapter) => DocumentStore.open({ actorId: actor(n), nodeId: actor(n).slice(0, 32), ...(storage ? { storage } : {}) });

/** MemoryStorage whose next call of one method waits until released, or fails once. */
class GatedStorage extends MemoryStorage {
  private gates = new Map<string, Promise<void>>();
  private failures = new Set<string>();

  /** The next `method` call waits for the returned release function. */
  hold(method: 'load' | 'save' | 'removeRange'): () => void {
    let release!: () => void;
    this.gates.set(method, new Promise<void>((r) => (release = r)));
    return release;
  }
  /** The next `method` call rejects. */
  failOnce(method: 'removeRange'): void {
    this.failures.add(method);
  }
  private async pass(method: string): Promise<void> {
    const gate = this.gates.get(method);
    this.gates.delete(method);
    if (gate) await gate;
    if (this.failures.delete(method)) throw new Error(`injected ${method} failure`);
  }
  override async load(key: string[]) {
    await this.pass('load');
    return super.load(key);
  }
  override async save(key: string[], data: Uint8Array) {
    await this.pass('save');
    return super.save(key, data);
  }
  override async removeRange(prefix: string[]) {
    await this.pass('removeRange');
    return super.removeRange(prefix);
  }
}

const tombstone = (id: string, deletedAt: number): Tombstone => ({ collection: 'cells', documentId: id, deletedAt, deletedBy: 'ff'.repeat(16), lamport: 1 });

describe('DocumentStore handle ownership', () => {
  // every read that takes a key, called in the same tick as a delete queued before it
  const readers: [string, (s: DocumentStore) => Promise<unknown>, unknown][] = [
    ['heads', (s) => s.heads('cells:c1'), []],
    ['get', (s) => s.get('cells', 'c1'), undefined],
    ['getLeader', (s) => s.getLeader('cells', 'c1'), undefined],
    ['syncable', (s) => s.syncable('cells:c1'), false],
    ['snapshot', (s) => s.snapshot('cells:c1', true), undefined],
    ['compact', (s) => s.compact('cells:c1'), undefined],
    ['signaturesFor', (s) => s.signaturesFor('cells:c1', ['00']), []],
  ];
  for (const storage of [false, true]) {
    for (const [name, read, gone] of readers) {
      it(`${name} queued behind a tombstone sees the document gone and does not bring it back (${storage ? 'storage' : 'memory only'})`, async () => {
        const s = await open(1, storage ? new MemoryStorage() : undefined);
        await s.put('cells', 'c1', { x: 1 });
        const deleted = s.delete('cells', 'c1');
        const result = read(s); // captured while the document is still there; runs after it was freed
        await deleted;
        await expect(result).resolves.toEqual(gone);
        expect(s.has('cells:c1')).toBe(false);
        expect(s.liveDocuments).toBe(0);
      });
    }
  }

  it('a peer snapshot, the peer tombstone and a heads read in one tick (the sync engine path of a cell merge)', async () => {
    const peer = await open(2);
    await peer.put('cells', 'c1', { members: { a: 1 }, v: 2 });
    const bytes = (await peer.snapshot('cells:c1'))!.bytes;
    const s = await open(1);
    await s.put('cells', 'c1', { v: 1 });
    const merged = s.mergeSnapshot('cells:c1', bytes, 'peer');
    const dropped = s.applyTombstone(tombstone('c1', s.clock.now()), 'peer');
    const heads = s.heads('cells:c1');
    expect(await merged).toBe('merged');
    expect(await dropped).toBe(true);
    await expect(heads).resolves.toEqual([]);
    expect(s.has('cells:c1')).toBe(false);
  });

  it('a sync message that leaves a new document empty forgets it; a heads read that found it meanwhile answers []', async () => {
    const storage = new GatedStorage();
    const s = await open(1, storage);
    const [, message] = A.generateSyncMessage(A.init(), A.initSyncState());
    const release = storage.hold('load'); // the receive creates the entry, then waits in load
    const received = s.receiveSyncMessage('things:t1', A.initSyncState(), message!, 'peer');
    await new Promise((r) => setImmediate(r));
    expect(s.has('things:t1')).toBe(true);
    const heads = s.heads('things:t1');
    release();
    expect((await received).changed).toBe(false);
    await expect(heads).resolves.toEqual([]);
    expect(s.has('things:t1')).toBe(false);
    expect(s.liveDocuments).toBe(0);
  });

  it('a replacing snapshot whose storage step fails keeps a live document (the old one), and the next write works', async () => {
    const storage = new GatedStorage();
    const s = await open(1, storage);
    await s.put('beacons', 'n1', { v: 1 });
    const owner = await open(2);
    await owner.put('beacons', 'n1', { v: 2 });
    await owner.rebase('beacons', 'n1'); // epoch 1: replaces every epoch-0 copy
    const bytes = (await owner.snapshot('beacons:n1'))!.bytes;
    storage.failOnce('removeRange');
    await expect(s.mergeSnapshot('beacons:n1', bytes, 'owner')).rejects.toThrow('injected removeRange failure');
    expect(await s.get('beacons', 'n1')).toMatchObject({ v: 1 });
    await s.put('beacons', 'n1', { v: 3 });
    expect(await s.get('beacons', 'n1')).toMatchObject({ v: 3 });
    // and once storage works the replacement goes through
    expect(await s.mergeSnapshot('beacons:n1', bytes, 'owner')).toBe('replaced');
    expect(await s.get('beacons', 'n1')).toMatchObject({ v: 2, _epoch: 1 });
  });

  it('a delete held open in storage does not let a read queued behind it reach the freed document', async () => {
    const storage = new GatedStorage();
    const s = await open(1, storage);
    await s.put('cells', 'c1', { x: 1 });
    const release = storage.hold('save'); // the tombstone record
    const deleted = s.delete('cells', 'c1');
    const reads = [s.heads('cells:c1'), s.get('cells', 'c1'), s.syncable('cells:c1')];
    release();
    await deleted;
    await expect(Promise.all(reads)).resolves.toEqual([[], undefined, false]);
  });

  it('no handle leaves the store: inspect hands the document to a synchronous function only, and eviction of it afterwards changes nothing', async () => {
    const s = await DocumentStore.open({ actorId: actor(1), nodeId: actor(1).slice(0, 32), maxLiveDocs: 1 });
    await s.put('things', 'a', { v: 1 });
    const heads = await s.inspect('things:a', (d) => A.getHeads(d));
    await s.put('things', 'b', { v: 1 }); // evicts things:a (one live document)
    expect(s.liveDocuments).toBe(1);
    expect(await s.inspect('things:a', (d) => A.getHeads(d))).toEqual(heads);
    await expect(s.inspect('things:a', async (d) => A.getHeads(d))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await s.inspect('things:none', (d) => A.getHeads(d))).toBeUndefined();
  });
});
