// SPDX-License-Identifier: Apache-2.0
// Memory transport round trip (publish -> subscriber -> reply -> requester) against a direct function call.
import type { EcpsEvent, Transport } from '@ecps/core';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { asyncOpsPerSecond, type BenchCase } from '../harness';

let a: Transport;
let b: Transport;
let resolveReply: (() => void) | undefined;
const event: EcpsEvent = { id: 'bench', source: 'urn:ecps:a', type: 'ecps.ext.bench', data: new Uint8Array(100) };

const handler = async (e: EcpsEvent): Promise<EcpsEvent> => ({ ...e, source: 'urn:ecps:b' });

const roundTrip: BenchCase = {
  name: 'memory transport round trip, 100 B (vs direct async call)',
  unit: 'ops/s',
  higherIsBetter: true,
  async setup() {
    const bus = new MemoryBus();
    a = memoryTransport({ nodeId: 'a', bus });
    b = memoryTransport({ nodeId: 'b', bus });
    await b.subscribe('ping', async (e) => {
      await b.publish('pong', await handler(e));
    });
    await a.subscribe('pong', () => resolveReply?.());
  },
  async teardown() {
    await a.close();
    await b.close();
  },
  ours: () =>
    asyncOpsPerSecond(() => {
      const reply = new Promise<void>((resolve) => (resolveReply = resolve));
      return a.publish('ping', event).then(() => reply);
    }),
  baseline: () => asyncOpsPerSecond(() => handler(event)),
};

export default roundTrip;
