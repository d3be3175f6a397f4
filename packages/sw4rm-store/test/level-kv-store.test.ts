// SPDX-License-Identifier: Apache-2.0
// The LevelDB KvStore: atomic durable commits, group commit across concurrent writers, clean rejection after close
// (nothing hangs), and abandon() as kill -9 leaves a store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { KvJsonTable } from '@ecps/sw4rm';
import { LevelKvStore } from '../src/index';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'kv-'));
  dirs.push(d);
  return join(d, 'db');
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const bytes = (s: string) => new TextEncoder().encode(s);

describe('LevelKvStore', () => {
  it('commits atomically and durably, groups concurrent commits into few batches, loads by prefix in key order', async () => {
    const path = tmp();
    const store = await LevelKvStore.open(path);
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.commit([{ type: 'put', key: `a/${String(i).padStart(3, '0')}`, value: bytes(`v${i}`) }])));
    expect(store.batches).toBeLessThan(200); // one fsync'd batch served many writers
    await store.commit([{ type: 'put', key: 'b/x', value: bytes('x') }, { type: 'del', key: 'a/000' }]);
    await store.close();
    const again = await LevelKvStore.open(path);
    const a = await again.load('a/');
    expect(a).toHaveLength(199);
    expect(a[0]![0]).toBe('a/001');
    expect(await again.load('b/')).toEqual([['b/x', bytes('x')]]);
    const table = new KvJsonTable<{ n: number }>(again, 't');
    await table.save('one', { n: 1 });
    expect([...(await table.load())]).toEqual([['one', { n: 1 }]]);
    await again.close();
  });

  it('a commit after close rejects with IO_ERROR at once, and so do the ones after it', async () => {
    const store = await LevelKvStore.open(tmp());
    const inFlight = store.commit([{ type: 'put', key: 'k', value: bytes('v') }]);
    const closing = store.close();
    await expect(store.commit([{ type: 'put', key: 'late', value: bytes('v') }])).rejects.toMatchObject({ code: 'IO_ERROR' });
    await inFlight; // queued before close: written
    await closing;
    await expect(store.commit([{ type: 'put', key: 'later', value: bytes('v') }])).rejects.toMatchObject({ code: 'IO_ERROR' });
    await expect(store.load('')).rejects.toMatchObject({ code: 'IO_ERROR' });
  });

  it('abandon() drops what was not written and never answers it; what was answered is there after reopening', async () => {
    const path = tmp();
    const store = await LevelKvStore.open(path);
    await store.commit([{ type: 'put', key: 'answered', value: bytes('1') }]);
    let heard = false;
    void store.commit([{ type: 'put', key: 'maybe', value: bytes('2') }]).then(() => (heard = true));
    void store.commit([{ type: 'put', key: 'queued', value: bytes('3') }]).then(() => (heard = true));
    await store.abandon();
    await new Promise((r) => setTimeout(r, 20));
    expect(heard).toBe(false);
    const again = await LevelKvStore.open(path);
    const keys = (await again.load('')).map(([k]) => k);
    expect(keys).toContain('answered');
    expect(keys).not.toContain('queued');
    await again.close();
  });
});
