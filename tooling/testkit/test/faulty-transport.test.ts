// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import type { EcpsEvent } from '@ecps/core';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { describeTransportConformance, faultyTransport, testEvent, waitFor } from '../src/index';

describeTransportConformance('faultyTransport without faults', async () => {
  const bus = new MemoryBus();
  return { a: faultyTransport(memoryTransport({ nodeId: 'a', bus })), b: memoryTransport({ nodeId: 'b', bus }), teardown: async () => undefined };
});

describe('faultyTransport', () => {
  async function run(options: Parameters<typeof faultyTransport>[1], count = 1000) {
    const bus = new MemoryBus();
    const inner = memoryTransport({ nodeId: 'a', bus });
    const rx = memoryTransport({ nodeId: 'b', bus });
    const t = faultyTransport(inner, options);
    const got: string[] = [];
    await rx.subscribe('t', (e: EcpsEvent) => void got.push(e.id));
    for (let i = 0; i < count; i++) await t.publish('t', { ...testEvent('a'), id: String(i) });
    await waitFor(() => got.length === count - t.faults.dropped + t.faults.duplicated, 'deliveries');
    await t.close();
    await rx.close();
    return { got, faults: { ...t.faults }, dropped: t.droppedEvents.map((e) => e.id) };
  }

  it('drops about the configured share, deterministically per seed', async () => {
    const first = await run({ seed: 3, dropRate: 0.05 });
    const again = await run({ seed: 3, dropRate: 0.05 });
    const other = await run({ seed: 4, dropRate: 0.05 });
    expect(first.faults.dropped).toBeGreaterThan(20);
    expect(first.faults.dropped).toBeLessThan(90);
    expect(again.dropped).toEqual(first.dropped);
    expect(other.dropped).not.toEqual(first.dropped);
    expect(first.got.filter((id) => first.dropped.includes(id))).toEqual([]);
  });

  it('duplicates and reorders, and only matching events', async () => {
    const dup = await run({ seed: 5, duplicateRate: 0.1 }, 300);
    expect(dup.faults.duplicated).toBeGreaterThan(5);
    expect(new Set(dup.got).size).toBe(300);
    const re = await run({ seed: 6, reorderRate: 0.1 }, 300);
    expect(re.faults.reordered).toBeGreaterThan(5);
    expect(re.got).not.toEqual([...re.got].sort((a, b) => Number(a) - Number(b)));
    expect(new Set(re.got).size).toBe(300);
    const none = await run({ seed: 7, dropRate: 1, match: (e) => e.id === 'never' }, 50);
    expect(none.faults.dropped).toBe(0);
  });
});
