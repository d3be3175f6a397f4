// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import * as A from '@automerge/automerge';
import { ManualClock } from '@ecps/core';
import { DocumentStore } from './document-store';
import { MemoryStorage } from './storage';

const actor = (n: number) => n.toString(16).padStart(2, '0').repeat(20);

async function store(n = 1, extra: Partial<Parameters<typeof DocumentStore.open>[0]> = {}) {
  return DocumentStore.open({ actorId: actor(n), nodeId: actor(n).slice(0, 32), ...extra });
}

describe('DocumentStore writes', () => {
  it('writes only the changed leaves, creates nested maps once and deletes missing keys', async () => {
    const s = await store();
    await s.put('things', 'a', { name: 'x', pos: { lat: 1, lon: 2 }, tags: ['a', 'b'], gone: 1 });
    const posId = await s.inspect('things:a', (d) => A.getObjectId(d, 'pos'));
    await s.put('things', 'a', { name: 'x', pos: { lat: 5, lon: 2 }, tags: ['a', 'c'] });
    expect(await s.inspect('things:a', (d) => A.getObjectId(d, 'pos'))).toBe(posId);
    const last = A.decodeChange((await s.inspect('things:a', (d) => A.getLastLocalChange(d)))!);
    // lat, tags[1] (scalar string), delete gone: three ops, nothing else rewritten
    expect(last.ops.length).toBe(3);
    const value = await s.get('things', 'a');
    expect(value).toMatchObject({ name: 'x', pos: { lat: 5, lon: 2 }, tags: ['a', 'c'] });
    expect(value).not.toHaveProperty('gone');
    expect(typeof value?.['_created_at']).toBe('number');
  });

  it('a write that changes nothing makes no change', async () => {
    const s = await store();
    const h1 = await s.put('things', 'a', { v: 1, b: new Uint8Array([1, 2]) });
    const h2 = await s.put('things', 'a', { v: 1, b: new Uint8Array([1, 2]) });
    expect(h2).toEqual(h1);
  });

  it('rejects values Automerge cannot hold', async () => {
    const s = await store();
    await expect(s.put('things', 'a', { v: undefined })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.put('things', 'a', { v: Number.NaN })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(s.put('things', 'a', { v: new Date() })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await s.get('things', 'a')).toBeUndefined();
  });

  it('the leader register keeps the highest (round, score_q, node_id) and refuses older rounds', async () => {
    const s = await store();
    expect(await s.setLeader('cells', 'c1', { node_id: 'b', round: 2, score_q: 10, autonomous: false })).toBe(true);
    expect(await s.setLeader('cells', 'c1', { node_id: 'z', round: 1, score_q: 99, autonomous: false })).toBe(false);
    expect(await s.getLeader('cells', 'c1')).toEqual({ node_id: 'b', round: 2, score_q: 10, autonomous: false });
  });

  it('sets _updated_at only on real writes of update-wins collections', async () => {
    const clock = new ManualClock(1_000_000);
    const s = await store(1, { clock });
    await s.put('alerts', 'a1', { level: 1 });
    clock.advance(10);
    const h = await s.put('alerts', 'a1', { level: 1 });
    expect(await s.heads('alerts:a1')).toEqual(h);
    expect((await s.get('alerts', 'a1'))?.['_updated_at']).toBe(1_000_000);
  });

  it('persists increments and reloads them', async () => {
    const storage = new MemoryStorage();
    const s = await store(1, { storage });
    await s.put('things', 'a', { v: 1 });
    await s.put('things', 'a', { v: 2 });
    const reopened = await store(2, { storage });
    expect(await reopened.get('things', 'a')).toMatchObject({ v: 2 });
  });
});
