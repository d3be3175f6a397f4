// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it } from '@jest/globals';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '@ecps/core';
import { SimDisk, SimNetwork } from '@ecps/testkit';
import { nodeDisk } from './disk';
import type { Disk } from './disk';
import { FileStorage } from './file-storage';
import type { Entry, HardState, Snapshot } from './types';

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
const segments = (d: string) => readdirSync(d).filter((n) => n.startsWith('wal-')).sort();

describe('FileStorage', () => {
  it('recovers entries, conflicts and the hard state after a restart', async () => {
    const d = dir();
    const s = new FileStorage({ dir: d });
    await s.save({ entries: [e(1, 1), e(2, 1), e(3, 1)], hardState: { term: 1, vote: 'a', commit: 1 } }, true);
    await s.save({ entries: [e(3, 2, 'new3'), e(4, 2)], hardState: { term: 2, vote: 'b', commit: 3 } }, true);
    await s.close();
    const r = new FileStorage({ dir: d }).load();
    expect(r.hardState).toEqual({ term: 2, vote: 'b', commit: 3 });
    expect(r.entries.map((x) => `${x.index}:${x.term}:${new TextDecoder().decode(x.data)}`)).toEqual(['1:1:v1', '2:1:v2', '3:2:new3', '4:2:v4']);
  });

  it('cuts a torn tail (a crash mid-write) and keeps every whole record', async () => {
    const d = dir();
    const s = new FileStorage({ dir: d, fsync: 'never' });
    await s.save({ entries: [e(1, 1), e(2, 1)], hardState: { term: 1, vote: '', commit: 2 } }, true);
    await s.close();
    const wal = join(d, segments(d)[0] as string);
    const size = statSync(wal).size;
    appendFileSync(wal, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9]));
    const s2 = new FileStorage({ dir: d, fsync: 'never' });
    expect(s2.tornBytes).toBe(11);
    // zeroed in place (the log resumes over them)
    expect(readFileSync(wal).subarray(size)).toEqual(Buffer.alloc(11));
    expect(s2.load().entries).toHaveLength(2);
    // a record cut in half loses only that record
    await s2.save({ entries: [e(3, 1)] }, true);
    await s2.close();
    truncateSync(wal, statSync(wal).size - 2);
    expect(new FileStorage({ dir: d, fsync: 'never' }).load().entries.map((x) => x.index)).toEqual([1, 2]);
  });

  it('preallocates segments: commits overwrite zeros (no size change), and the zeros after the last record end the log', async () => {
    const d = dir();
    const s = new FileStorage({ dir: d, segmentBytes: 4096 });
    const wal = join(d, segments(d)[0] as string);
    expect(statSync(wal).size).toBe(4096);
    await s.save({ entries: [e(1, 1), e(2, 1)], hardState: { term: 1, vote: 'a', commit: 1 } }, true);
    expect(statSync(wal).size).toBe(4096);
    await s.close();
    const s2 = new FileStorage({ dir: d, segmentBytes: 4096 });
    expect(s2.tornBytes).toBe(0);
    expect(s2.load().entries.map((x) => x.index)).toEqual([1, 2]);
    // writing resumes after the last record, not at the end of the file
    await s2.save({ entries: [e(3, 1)] }, true);
    await s2.close();
    expect(statSync(wal).size).toBe(4096);
    expect(new FileStorage({ dir: d, segmentBytes: 4096 }).load().entries.map((x) => x.index)).toEqual([1, 2, 3]);
  });

  it('a torn record inside a preallocated segment ends the log, is zeroed, and loses no earlier record', async () => {
    const d = dir();
    const s = new FileStorage({ dir: d, segmentBytes: 4096 });
    await s.save({ entries: [e(1, 1), e(2, 1)], hardState: { term: 1, vote: 'a', commit: 2 } }, true);
    await s.close();
    const wal = join(d, segments(d)[0] as string);
    const bytes = readFileSync(wal);
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    // part of a record after the last one: a length, a checksum that does not match, a kind, 51 bytes of its body
    bytes.set([80, 0, 0, 0, 1, 2, 3, 4, 1, ...new Array<number>(51).fill(9)], end);
    writeFileSync(wal, bytes);
    const s2 = new FileStorage({ dir: d, segmentBytes: 4096 });
    expect(s2.tornBytes).toBe(60);
    expect(s2.load().entries.map((x) => x.index)).toEqual([1, 2]);
    await s2.save({ entries: [e(3, 1, 'x')] }, true);
    await s2.close();
    // the torn bytes are gone (zeroed, the file keeps its size), and what followed them counts
    expect(statSync(wal).size).toBe(4096);
    const s3 = new FileStorage({ dir: d, segmentBytes: 4096 });
    expect(s3.tornBytes).toBe(0);
    expect(s3.load().entries.map((x) => x.index)).toEqual([1, 2, 3]);
    await s3.close();
  });

  it('rolls to the segment prepared in the background: no file creation and no directory sync on the commit path', async () => {
    const d = dir();
    const calls = { open: 0, syncDir: 0, preallocate: 0 };
    const counting: Disk = {
      ...nodeDisk,
      open: (path) => (calls.open++, nodeDisk.open(path)),
      syncDir: (path) => (calls.syncDir++, nodeDisk.syncDir(path)),
      preallocate: (path, bytes) => (calls.preallocate++, nodeDisk.preallocate(path, bytes)),
    };
    const s = new FileStorage({ dir: d, disk: counting, segmentBytes: 1024 });
    await s.save({ entries: [e(1, 1)], hardState: { term: 1, vote: 'a', commit: 0 } }, true);
    const startup = { ...calls };
    for (let i = 2; i <= 200; i++) {
      await s.save({ entries: [e(i, 1)] }, true);
      // give the background preparation its turn, as the event loop does between commits
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(segments(d).length).toBeGreaterThanOrEqual(4);
    for (const name of segments(d)) expect(statSync(join(d, name)).size).toBe(1024);
    expect(calls.syncDir - startup.syncDir).toBe(0);
    // every segment opened after start-up was one prepared beforehand
    expect(calls.open - startup.open).toBe(calls.preallocate - startup.preallocate - (s['spare'] ? 1 : 0));
    await s.compact({ meta: { index: 180, term: 1, confState: conf }, data: new Uint8Array([1]) });
    await s.close();
    const r = new FileStorage({ dir: d, segmentBytes: 1024 }).load();
    expect(r.entries.map((x) => x.index)).toEqual(Array.from({ length: 20 }, (_, i) => 181 + i));
    expect(r.hardState).toEqual({ term: 1, vote: 'a', commit: 0 });
  });

  it('compacts to a snapshot, drops the segments it covers, and restores from it', async () => {
    const d = dir();
    // segments of 256 bytes: each save below fills one
    const s = new FileStorage({ dir: d, segmentBytes: 256 });
    await s.save({ entries: [1, 2, 3, 4, 5].map((i) => e(i, 1)), hardState: { term: 1, vote: 'a', commit: 5 } }, true);
    await s.save({ entries: [6, 7, 8, 9, 10].map((i) => e(i, 1, 'x'.repeat(20))) }, true);
    await new Promise((r) => setTimeout(r, 50)); // the next segment is prepared
    await s.save({ entries: [11, 12, 13, 14, 15].map((i) => e(i, 1, 'x'.repeat(20))) }, true);
    await s.compact({ meta: { index: 3, term: 1, confState: conf }, data: new Uint8Array([7]) });
    // the first segment still holds 4 and 5
    expect(segments(d).length).toBeGreaterThanOrEqual(2);
    const before = segments(d).length;
    await s.compact({ meta: { index: 15, term: 1, confState: conf }, data: new Uint8Array([8]) });
    // every full segment went; the one being written stays
    expect(segments(d).length).toBeLessThan(before);
    expect(segments(d).filter((n) => statSync(join(d, n)).size > 0).length).toBeLessThanOrEqual(2);
    expect(readdirSync(d).filter((n) => n.startsWith('snap-'))).toHaveLength(1);
    await s.close();
    const r = new FileStorage({ dir: d }).load();
    expect(r.snapshot?.meta).toEqual({ index: 15, term: 1, confState: conf });
    expect(r.snapshot?.data).toEqual(new Uint8Array([8]));
    expect(r.entries).toEqual([]);
    expect(r.hardState?.commit).toBe(5);
  });

  it('a received snapshot replaces the log, also across a restart', async () => {
    const d = dir();
    const s = new FileStorage({ dir: d });
    await s.save({ entries: [e(1, 1), e(2, 1), e(3, 1, 'stale')], hardState: { term: 1, vote: '', commit: 2 } }, true);
    await s.save({ entries: [e(10, 2)], snapshot: { meta: { index: 9, term: 2, confState: conf }, data: new Uint8Array([9]) } }, true);
    await s.close();
    const r = new FileStorage({ dir: d }).load();
    expect(r.snapshot?.meta.index).toBe(9);
    expect(r.entries.map((x) => x.index)).toEqual([10]);
  });

  it('rejects a damaged snapshot file with LOG_CORRUPT', async () => {
    const d = dir();
    const s = new FileStorage({ dir: d });
    await s.save({ entries: [e(10, 2)], snapshot: { meta: { index: 9, term: 2, confState: conf }, data: new Uint8Array([1, 2]) } }, true);
    await s.close();
    const snap = join(d, readdirSync(d).find((n) => n.startsWith('snap-')) as string);
    appendFileSync(snap, Buffer.from([0]));
    truncateSync(snap, 12);
    expect(() => new FileStorage({ dir: d })).toThrow(expect.objectContaining({ code: 'LOG_CORRUPT' }));
  });

  it('group commit: saves made while a sync runs share the next one, and resolve in order', async () => {
    const d = dir();
    let syncs = 0;
    const counting: Disk = {
      ...nodeDisk,
      open(path) {
        const f = nodeDisk.open(path);
        return { ...f, sync: () => (syncs++, f.sync()) };
      },
    };
    const s = new FileStorage({ dir: d, disk: counting, segmentBytes: 4096 });
    await s.save({ entries: [] , hardState: { term: 1, vote: '', commit: 0 } }, true);
    syncs = 0;
    const order: number[] = [];
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.save({ entries: [e(i + 1, 1)] }, true).then(() => order.push(i))));
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(syncs).toBeLessThanOrEqual(2);
    await s.close();
    expect(new FileStorage({ dir: d }).load().entries).toHaveLength(50);
  });
});

describe('FileStorage on a disk that loses unsynced writes', () => {
  /**
   * Random saves (appends, conflicting rewrites, received snapshots), compactions and crashes at random moments on a
   * simulated disk that keeps only synced bytes and tears unsynced writes. After every crash the storage must start
   * and hold every save it acknowledged: each acknowledged entry (or a newer entry at its index, or a snapshot
   * covering it), the acknowledged term and vote, and the acknowledged snapshot.
   */
  async function run(seed: number, lie?: 'file sync' | 'directory sync'): Promise<{ torn: number; acks: number; rolls: number }> {
    const net = new SimNetwork<never>({ seed });
    const random = seededRandom(seed * 7 + 1);
    const disk = new SimDisk({ schedule: (ms, fn) => net.schedule(ms, fn), random, syncLatencyMs: 2 });
    const path = '/node/raft';
    /** The model after the last acknowledged save, and the saves issued since (with where each truncates the log). */
    let acked: { entries: Entry[]; hardState?: HardState; snapshot?: Snapshot } = { entries: [] };
    let issued = 0;
    let ackedUpTo = 0;
    const truncations: { save: number; at: number }[] = [];
    let torn = 0;
    let acks = 0;
    let rolls = 0;
    for (let life = 0; life < 6; life++) {
      // small preallocated segments: crashes hit rolls, spares being prepared, and zero tails
      const storage = new FileStorage({ dir: path, disk: lie ? lyingDisk(disk as unknown as Disk, lie) : (disk as unknown as Disk), segmentBytes: 512 });
      torn += storage.tornBytes;
      const state = storage.load();
      const base = state.snapshot?.meta.index ?? 0;
      expect(base).toBeGreaterThanOrEqual(acked.snapshot?.meta.index ?? 0);
      // an unacknowledged save that survived may have replaced entries from its truncation point on
      const replacedFrom = Math.min(Infinity, ...truncations.filter((t) => t.save > ackedUpTo).map((t) => t.at));
      for (const a of acked.entries) {
        if (a.index <= base || a.index >= replacedFrom) continue;
        const got = state.entries.find((x) => x.index === a.index);
        if (got?.term !== a.term) throw new Error(`acknowledged entry ${a.index}@${a.term} lost (found ${got?.term})`);
      }
      const hs = acked.hardState;
      if (hs) {
        const now = state.hardState ?? { term: 0, vote: '', commit: 0 };
        if (now.term < hs.term || (now.term === hs.term && now.vote !== hs.vote)) {
          throw new Error(`acknowledged term/vote ${hs.term}/${hs.vote} lost (found ${now.term}/${now.vote})`);
        }
      }
      let log = [...state.entries];
      let snap = state.snapshot;
      let term = Math.max(state.hardState?.term ?? 1, log.at(-1)?.term ?? 1);
      // what is committed never changes (Raft only overwrites or snapshots past it, and compacts below it)
      let commit = Math.max(base, state.hardState?.commit ?? 0, acked.hardState?.commit ?? 0);
      for (let op = 0; op < 40; op++) {
        const roll = random.int(10);
        const last = log.at(-1)?.index ?? snap?.meta.index ?? 0;
        commit = Math.min(last, commit + random.int(3));
        let batch: { entries: Entry[]; hardState?: HardState; snapshot?: Snapshot };
        let at = Infinity;
        if (roll < 6 || last === 0) {
          batch = { entries: Array.from({ length: 1 + random.int(3) }, (_, i) => e(last + 1 + i, term)), hardState: { term, vote: `v${term}`, commit } };
        } else if (roll < 8 && last > commit) {
          // a new leader overwrites an uncommitted suffix
          term++;
          at = Math.max(commit + 1, last - random.int(2));
          batch = { entries: [e(at, term, `t${term}`)], hardState: { term, vote: `v${term}`, commit } };
        } else if (roll < 9) {
          term++;
          const index = last + 1 + random.int(5);
          at = 0;
          commit = index;
          batch = { entries: [], snapshot: { meta: { index, term, confState: conf }, data: new Uint8Array([index % 256]) }, hardState: { term, vote: `v${term}`, commit } };
        } else {
          const entry = log.find((x) => x.index === commit);
          if (entry && entry.index > (snap?.meta.index ?? 0)) {
            storage.compact({ meta: { index: entry.index, term: entry.term, confState: conf }, data: new Uint8Array([1]) }).catch(() => undefined);
          }
          await net.runUntilAsync(net.now + random.int(3));
          continue;
        }
        if (batch.snapshot) {
          snap = batch.snapshot;
          log = [];
        }
        const first = batch.entries[0];
        if (first) log = [...log.filter((x) => x.index < first.index), ...batch.entries];
        const expected = { entries: [...log], ...(batch.hardState ? { hardState: batch.hardState } : {}), ...(snap ? { snapshot: snap } : {}) };
        const save = ++issued;
        if (at !== Infinity) truncations.push({ save, at });
        storage.save(batch, true).then(
          () => {
            acked = expected;
            ackedUpTo = save;
            acks++;
          },
          () => undefined,
        );
        await net.runUntilAsync(net.now + random.int(3));
      }
      rolls += parseInt(/wal-(\w+)/.exec(disk.list(path).filter((n) => n.startsWith('wal-')).at(-1) ?? '')?.[1] ?? '0', 16);
      // crash at a random moment, with writes and syncs in flight
      disk.crash();
    }
    return { torn, acks, rolls };
  }

  it('keeps every acknowledged save across crashes that tear unsynced writes (40 seeds)', async () => {
    let torn = 0;
    let acks = 0;
    let rolls = 0;
    for (let seed = 1; seed <= Number(process.env.ECPS_WAL_SEEDS ?? 40); seed++) {
      try {
        const r = await run(seed);
        torn += r.torn;
        acks += r.acks;
        rolls += r.rolls;
      } catch (error) {
        throw new Error(`seed ${seed}: ${String(error)}`);
      }
    }
    // the fault did something: crashes cut writes in half
    expect(torn).toBeGreaterThan(0);
    expect(acks).toBeGreaterThan(40 * 20);
    // and the log moved on through many preallocated segments
    expect(rolls).toBeGreaterThan(40 * 6 * 2);
  });

  /** The same disk, except that one kind of fsync reports success without making anything durable. */
  function lyingDisk(disk: Disk, lie: 'file sync' | 'directory sync'): Disk {
    return new Proxy(disk, {
      get(target, prop) {
        if (lie === 'directory sync' && prop === 'syncDir') return () => Promise.resolve();
        if (lie === 'file sync' && prop === 'open') {
          return (path: string) => {
            const file = target.open(path);
            return { write: (data: Uint8Array, at: number) => file.write(data, at), sync: () => Promise.resolve(), close: () => file.close() };
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  it.each(['file sync', 'directory sync'] as const)('the check catches a storage whose %s does nothing', async (lie) => {
    let caught: unknown;
    for (let seed = 1; seed <= 40 && caught === undefined; seed++) {
      await run(seed, lie).catch((error: unknown) => (caught = error));
    }
    // an acknowledged entry, term/vote or snapshot (the base check) went missing
    expect(String(caught)).toMatch(/acknowledged .* lost|toBeGreaterThanOrEqual/);
  });
});
