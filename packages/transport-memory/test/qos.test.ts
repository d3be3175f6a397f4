import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { testEvent, waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '../src/index';

describe('memory transport QoS', () => {
  it('drops BEST_EFFORT events past the bound, counting them, and never RELIABLE ones', async () => {
    const bus = new MemoryBus({ bestEffortQueueLimit: 10, reliableQueueLimit: 50 });
    const a = memoryTransport({ nodeId: 'a', bus });
    const b = memoryTransport({ nodeId: 'b', bus });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let got = 0;
    await b.subscribe('t', async () => {
      await gate;
      got++;
    });
    for (let i = 0; i < 30; i++) await a.publish('t', testEvent('urn:ecps:a'), { qos: 0 });
    // one event is with the (blocked) handler, ten wait in the queue, the rest are dropped
    expect(bus.stats.dropped).toBe(30 - 1 - 10);
    // reliable: fills up to the hard bound, then refuses with QUEUE_FULL instead of dropping
    let refused = 0;
    for (let i = 0; i < 50; i++) {
      try {
        await a.publish('t', testEvent('urn:ecps:a'), { qos: 1 });
      } catch (e) {
        expect(isEcpsError(e, 'QUEUE_FULL')).toBe(true);
        refused++;
      }
    }
    expect(refused).toBe(10);
    release();
    await waitFor(() => got === 1 + 10 + 40, 'every accepted event');
    expect(bus.stats.dropped).toBe(19);
    await a.close();
    await b.close();
  });

  it('takes the lower of publish and subscribe QoS', async () => {
    const bus = new MemoryBus({ bestEffortQueueLimit: 1 });
    const a = memoryTransport({ nodeId: 'a', bus });
    const b = memoryTransport({ nodeId: 'b', bus });
    await b.subscribe('t', () => new Promise(() => undefined), { qos: 0 });
    for (let i = 0; i < 5; i++) await a.publish('t', testEvent('urn:ecps:a'), { qos: 2 });
    // one with the handler, one queued, three dropped
    expect(bus.stats.dropped).toBe(3);
    await a.close();
    await b.close();
  });
});
