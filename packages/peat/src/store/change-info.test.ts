// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import * as A from '@automerge/automerge';
import { concatBytes } from '../bytes';
import { changesInChunk, changesInSyncMessage } from './change-info';

describe('change-info', () => {
  const doc = () => {
    let d = A.init<Record<string, unknown>>({ actor: 'ab'.repeat(20) });
    for (let i = 0; i < 3; i++) d = A.change(d, (x) => void (x[`k${i}`] = i));
    return d;
  };

  it('reads hash and actor from a change header as Automerge decodes them', () => {
    for (const c of A.getAllChanges(doc())) {
      const [info] = changesInChunk(c);
      const decoded = A.decodeChange(c);
      expect(info).toEqual({ hash: decoded.hash, actor: decoded.actor });
    }
  });

  it('splits an entry of several concatenated chunks (Automerge bundles changes in one sync entry)', () => {
    const changes = A.getAllChanges(doc());
    expect(changesInChunk(concatBytes(changes)).map((c) => c.hash)).toEqual(changes.map((c) => A.decodeChange(c).hash));
  });

  it('lists the changes of a whole-document entry and of a sync message', () => {
    const d = doc();
    const [, theirs] = A.generateSyncMessage(A.init(), A.initSyncState());
    const [, state] = A.receiveSyncMessage(d, A.initSyncState(), theirs!);
    const [, msg] = A.generateSyncMessage(d, state);
    expect(changesInSyncMessage(msg!).map((c) => c.hash).sort()).toEqual(A.getAllChanges(d).map((c) => A.decodeChange(c).hash).sort());
  });

  it('refuses corrupt chunks with typed errors', () => {
    const [c] = A.getAllChanges(doc());
    const flipped = c!.slice();
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 0xff;
    expect(() => changesInChunk(flipped)).toThrow(expect.objectContaining({ code: 'CHECKSUM_MISMATCH' }));
    expect(() => changesInChunk(c!.subarray(0, c!.length - 3))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    expect(() => changesInChunk(new Uint8Array([1, 2, 3]))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
});
