// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { checkLinearizability } from './linearizability';
import type { HistoryOperation, LinearizabilityModel } from './linearizability';

type In = { kind: 'write'; value: number } | { kind: 'read' };
const register: LinearizabilityModel<number, In, number> = {
  init: () => 0,
  key: (s) => String(s),
  step: (s, input, output) =>
    input.kind === 'write' ? { ok: true, state: input.value } : { ok: output === undefined || output === s, state: s },
};
const op = (clientId: string, input: In, output: number | undefined, call: number, ret: number): HistoryOperation<In, number> => ({
  clientId,
  input,
  output,
  call,
  return: ret,
});

describe('checkLinearizability', () => {
  it('accepts a read overlapping a write that sees either value', () => {
    const h = [op('a', { kind: 'write', value: 1 }, 0, 0, 10), op('b', { kind: 'read' }, 1, 1, 5), op('c', { kind: 'read' }, 0, 2, 4)];
    expect(checkLinearizability(register, h).ok).toBe(true);
  });

  it('rejects a stale read after a completed write', () => {
    const h = [op('a', { kind: 'write', value: 1 }, 0, 0, 1), op('b', { kind: 'read' }, 0, 2, 3)];
    const r = checkLinearizability(register, h);
    expect(r.ok).toBe(false);
    expect(r.inconclusive).toBeUndefined();
  });

  it('rejects reads that see values in an order no sequential run allows', () => {
    // b sees 2 then c (later) sees 1, although the write of 1 finished before the write of 2 started
    const h = [
      op('a', { kind: 'write', value: 1 }, 0, 0, 1),
      op('a', { kind: 'write', value: 2 }, 0, 2, 10),
      op('b', { kind: 'read' }, 2, 3, 4),
      op('c', { kind: 'read' }, 1, 5, 6),
    ];
    expect(checkLinearizability(register, h).ok).toBe(false);
  });

  it('lets an operation with an unknown outcome take effect or not', () => {
    const h = [op('a', { kind: 'write', value: 7 }, undefined, 0, Infinity), op('b', { kind: 'read' }, 0, 1, 2), op('b', { kind: 'read' }, 7, 3, 4)];
    expect(checkLinearizability(register, h).ok).toBe(true);
    const bad = [...h, op('b', { kind: 'read' }, 0, 5, 6)];
    expect(checkLinearizability(register, bad).ok).toBe(false);
  });

  it('reports an exhausted budget as inconclusive, not as linearizable', () => {
    const h = Array.from({ length: 12 }, (_, i) => op(`c${i}`, { kind: 'write', value: i }, 0, 0, 100)).concat([op('z', { kind: 'read' }, 99, 101, 102)]);
    const r = checkLinearizability(register, h, 50);
    expect(r.ok).toBe(false);
    expect(r.inconclusive).toBe(true);
  });
});
