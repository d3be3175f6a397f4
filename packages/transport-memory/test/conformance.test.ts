import { describeTransportConformance } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '../src/index';

describeTransportConformance('memory', async () => {
  const bus = new MemoryBus();
  return {
    a: memoryTransport({ nodeId: 'a', bus }),
    b: memoryTransport({ nodeId: 'b', bus }),
    teardown: async () => undefined,
  };
}, { settleMs: 0 });

describeTransportConformance('memory with a topic prefix', async () => {
  const bus = new MemoryBus();
  return {
    a: memoryTransport({ nodeId: 'a', bus, topicPrefix: 'ecps/test/' }),
    b: memoryTransport({ nodeId: 'b', bus, topicPrefix: 'ecps/test/' }),
    teardown: async () => undefined,
  };
}, { settleMs: 0 });
