// SPDX-License-Identifier: Apache-2.0
// Checklist item 18: load(save(doc)) keeps values and heads; incremental replay; zero-byte records dropped; the
// LRU bound holds. Plus compaction and rebasing (§6.4), on memory and on files, and through automerge-repo's own
// filesystem adapter (the storage contract is automerge-repo's).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import * as A from '@automerge/automerge';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';
import { DocumentStore } from '../src/store/document-store';
import { FileStorage, MemoryStorage } from '../src/store/storage';
import type { StorageAdapter } from '../src/store/storage';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'peat-store-'));
  dirs.push(d);
  return d;
}

const actor = (n: number) => n.toString(16).padStart(2, '0').repeat(20);
const open = (storage: StorageAdapter | undefined, n = 1, extra: Partial<Parameters<typeof DocumentStore.open>[0]> = {}) =>
  DocumentStore.open({ actorId: actor(n), nodeId: actor(n).slice(0, 32), ...(storage ? { storage } : {}), ...extra });

describe('checklist 18: persistence', () => {
  it('load(save(doc)) keeps values and heads', async () => {
    const s = await open(undefined);
    await s.put('things', 'a', { x: 1, nested: { y: [1, 2, { z: 'q' }] }, bytes: new Uint8Array([9, 8]) });
    const [saved, heads, value] = (await s.inspect('things:a', (doc) => [A.save(doc), A.getHeads(doc), A.toJS(doc)] as const))!;
    const loaded = A.load(saved);
    expect(A.getHeads(loaded)).toEqual(heads);
    expect(A.toJS(loaded)).toEqual(value);
  });

  for (const [name, make] of [
    ['memory', () => new MemoryStorage()],
    ['files', () => new FileStorage(tempDir())],
    ['automerge-repo NodeFSStorageAdapter', () => new NodeFSStorageAdapter(tempDir())],
  ] as const) {
    it(`incremental replay restores every write (${name})`, async () => {
      const storage: StorageAdapter = make();
      const s = await open(storage);
      for (let i = 0; i < 10; i++) await s.put('events', 'e', { n: i, [`k${i}`]: i });
      const heads = await s.heads('events:e');
      const again = await open(storage, 2);
      expect(await again.heads('events:e')).toEqual(heads);
      const value = await again.get('events', 'e');
      expect(value).toMatchObject({ n: 9, k9: 9 });
      expect(value).not.toHaveProperty('k0');
      // a reopened store keeps writing after the records it found
      await again.put('events', 'e', { n: 10 });
      expect(await (await open(storage, 3)).get('events', 'e')).toMatchObject({ n: 10 });
    });
  }

  it('compacts to one snapshot after N increments, and replays snapshot + increments', async () => {
    const storage = new MemoryStorage();
    const s = await open(storage, 1, { compactAfterIncrements: 5 });
    for (let i = 0; i < 12; i++) await s.put('events', 'e', { n: i });
    const keys = (await storage.loadRange(['peat', 'events', 'e'])).map((c) => c.key.slice(3).join('/'));
    expect(keys.filter((k) => k === 'snapshot')).toHaveLength(1);
    expect(keys.filter((k) => k.startsWith('inc/')).length).toBeLessThan(5);
    expect(await (await open(storage, 2)).get('events', 'e')).toMatchObject({ n: 11 });
  });

  it('drops zero-byte records on open', async () => {
    const storage = new MemoryStorage();
    const s = await open(storage);
    await s.put('events', 'e', { n: 1 });
    await storage.save(['peat', 'events', 'e', 'inc', '000000000099'], new Uint8Array(0));
    await storage.save(['peat', 'events', 'ghost', 'inc', '000000000000'], new Uint8Array(0));
    const again = await open(storage, 2);
    expect(await storage.load(['peat', 'events', 'e', 'inc', '000000000099'])).toBeUndefined();
    expect(again.keys('events')).toEqual(['events:e']);
    expect(await again.get('events', 'e')).toMatchObject({ n: 1 });
  });

  it('the LRU bound holds and evicted documents come back intact (storage and memory-only)', async () => {
    for (const storage of [new MemoryStorage(), undefined]) {
      const s = await open(storage, 1, { maxLiveDocs: 10 });
      for (let i = 0; i < 50; i++) {
        await s.put('events', `e${i}`, { i });
        expect(s.liveDocuments).toBeLessThanOrEqual(10);
      }
      for (let i = 0; i < 50; i++) expect(await s.get('events', `e${i}`)).toMatchObject({ i });
      expect(s.liveDocuments).toBeLessThanOrEqual(10);
    }
  });

  it('a corrupt stored record is a typed error and the other documents still load', async () => {
    const storage = new MemoryStorage();
    const s = await open(storage);
    await s.put('events', 'good', { v: 1 });
    await s.put('events', 'bad', { v: 1 });
    await storage.save(['peat', 'events', 'bad', 'snapshot'], new Uint8Array([1, 2, 3, 4, 5]));
    const again = await open(storage, 2);
    await expect(again.get('events', 'bad')).rejects.toMatchObject({ code: 'LOG_CORRUPT' });
    expect(await again.get('events', 'good')).toMatchObject({ v: 1 });
  });

  it('rebases a single-writer document with a higher epoch; peers adopt it and ignore older epochs', async () => {
    const owner = await open(new MemoryStorage(), 1);
    const peer = await open(undefined, 2);
    for (let i = 0; i < 20; i++) await owner.put('node_states', 'me', { fuel_minutes: 100 - i });
    expect(await peer.mergeSnapshot('node_states:me', (await owner.snapshot('node_states:me'))!.bytes, 'owner')).toBe('merged');
    const old = (await owner.snapshot('node_states:me'))!.bytes;
    expect(await owner.rebase('node_states', 'me')).toBe(1);
    const fresh = (await owner.snapshot('node_states:me'))!;
    expect(A.getAllChanges(A.load(fresh.bytes))).toHaveLength(1);
    expect(await peer.mergeSnapshot('node_states:me', fresh.bytes, 'owner')).toBe('replaced');
    expect(await peer.mergeSnapshot('node_states:me', old, 'other')).toBe('stale');
    expect(await peer.get('node_states', 'me')).toMatchObject({ fuel_minutes: 81, _epoch: 1 });
    expect(() => owner.rebase('cells', 'c')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
