// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it } from '@jest/globals';
import { appendFileSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStorage } from './file-storage';
import type { Entry } from './types';

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ecps-wal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const e = (index: number, term: number, s = `v${index}`): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(s) });
const conf = { voters: ['a', 'b', 'c'], learners: [] };

describe('FileStorage', () => {
  it('recovers entries, conflicts and the hard state after a restart', () => {
    const d = dir();
    const s = new FileStorage({ dir: d });
    s.save({ entries: [e(1, 1), e(2, 1), e(3, 1)], hardState: { term: 1, vote: 'a', commit: 1 } }, true);
    s.save({ entries: [e(3, 2, 'new3'), e(4, 2)], hardState: { term: 2, vote: 'b', commit: 3 } }, true);
    s.close();
    const r = new FileStorage({ dir: d }).load();
    expect(r.hardState).toEqual({ term: 2, vote: 'b', commit: 3 });
    expect(r.entries.map((x) => `${x.index}:${x.term}:${new TextDecoder().decode(x.data)}`)).toEqual(['1:1:v1', '2:1:v2', '3:2:new3', '4:2:v4']);
  });

  it('cuts a torn tail (a crash mid-write) and keeps every whole record', () => {
    const d = dir();
    const s = new FileStorage({ dir: d, fsync: 'never' });
    s.save({ entries: [e(1, 1), e(2, 1)], hardState: { term: 1, vote: '', commit: 2 } }, true);
    s.close();
    const wal = join(d, 'wal.log');
    const size = statSync(wal).size;
    appendFileSync(wal, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9]));
    const s2 = new FileStorage({ dir: d });
    expect(s2.tornBytes).toBe(11);
    expect(statSync(wal).size).toBe(size);
    expect(s2.load().entries).toHaveLength(2);
    // a record cut in half loses only that record
    s2.save({ entries: [e(3, 1)] }, true);
    s2.close();
    truncateSync(wal, statSync(wal).size - 2);
    expect(new FileStorage({ dir: d }).load().entries.map((x) => x.index)).toEqual([1, 2]);
  });

  it('compacts to a snapshot and restores from it', () => {
    const d = dir();
    const s = new FileStorage({ dir: d });
    s.save({ entries: [1, 2, 3, 4, 5].map((i) => e(i, 1)), hardState: { term: 1, vote: 'a', commit: 5 } }, true);
    s.compact({ meta: { index: 3, term: 1, confState: conf }, data: new Uint8Array([7]) });
    s.save({ entries: [e(6, 1)] }, true);
    s.close();
    const r = new FileStorage({ dir: d }).load();
    expect(r.snapshot?.meta).toEqual({ index: 3, term: 1, confState: conf });
    expect(r.snapshot?.data).toEqual(new Uint8Array([7]));
    expect(r.entries.map((x) => x.index)).toEqual([4, 5, 6]);
    expect(r.hardState?.commit).toBe(5);
  });

  it('rejects a damaged snapshot file with LOG_CORRUPT', () => {
    const d = dir();
    const s = new FileStorage({ dir: d });
    s.save({ entries: [e(1, 1)], snapshot: { meta: { index: 9, term: 2, confState: conf }, data: new Uint8Array([1, 2]) } }, true);
    s.close();
    appendFileSync(join(d, 'snapshot.bin'), Buffer.from([0]));
    truncateSync(join(d, 'snapshot.bin'), 12);
    expect(() => new FileStorage({ dir: d })).toThrow(expect.objectContaining({ code: 'LOG_CORRUPT' }));
  });
});
