// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import * as A from '@automerge/automerge';
import { orSetAdd, orSetRemove } from './document';

type Doc = { members?: Record<string, { joined_at: number }> };

describe('OR-set fields (add-wins)', () => {
  it('a re-add of a present member concurrent with its removal survives the merge, on both sides', () => {
    const base = A.change(A.init<Doc>({ actor: 'aa'.repeat(16) }), (d) => {
      orSetAdd(d as Record<string, unknown>, 'members', 'x', { joined_at: 1 });
      orSetAdd(d as Record<string, unknown>, 'members', 'y', { joined_at: 1 });
    });
    const remover = A.change(A.clone(base, { actor: 'bb'.repeat(16) }), (d) => orSetRemove(d as Record<string, unknown>, 'members', 'x'));
    const readder = A.change(A.clone(base, { actor: 'cc'.repeat(16) }), (d) => orSetAdd(d as Record<string, unknown>, 'members', 'x', { joined_at: 2 }));
    for (const merged of [A.merge(A.clone(remover), readder), A.merge(A.clone(readder), remover)]) {
      expect(Object.keys(merged.members!).sort()).toEqual(['x', 'y']);
      expect(merged.members!['x']).toEqual({ joined_at: 2 });
    }
  });

  it('a removal wins over the adds it has seen', () => {
    const base = A.change(A.init<Doc>({ actor: 'aa'.repeat(16) }), (d) => orSetAdd(d as Record<string, unknown>, 'members', 'x', { joined_at: 1 }));
    const removed = A.change(A.clone(base, { actor: 'bb'.repeat(16) }), (d) => orSetRemove(d as Record<string, unknown>, 'members', 'x'));
    expect(Object.keys(A.merge(A.clone(base), removed).members!)).toEqual([]);
  });
});
