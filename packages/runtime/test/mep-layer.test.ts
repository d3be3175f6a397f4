// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { createTensor, encodeTensorFrame } from '@ecps/ltp';
import type { LTP } from '@ecps/proto';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { createNode } from '../src/index';

const embedding = (values: number[], key: string) =>
  encodeTensorFrame(createTensor('f32', [values.length], Float32Array.from(values)), { frameId: 'clip', attributes: { mep_id: key } });

describe('node.mep', () => {
  it('hosts a store on one node and reaches it from another through MemoryStore.Put / Query', async () => {
    const bus = new MemoryBus();
    const memory = await createNode({ id: 'memory', transport: ({ nodeId }) => memoryTransport({ nodeId, bus }), mep: { store: { maxSize: 100 } } });
    const robot = await createNode({ id: 'robot', transport: ({ nodeId }) => memoryTransport({ nodeId, bus }) });
    expect(robot.mep.store).toBeUndefined();
    expect((await robot.mep.client.put(await embedding([1, 0, 0], 'cup'))).success).toBe(true);
    expect((await robot.mep.client.put(await embedding([0, 1, 0], 'plate'))).success).toBe(true);
    expect(memory.mep.store!.keys()).toEqual(['cup', 'plate']);
    const hits: LTP[] = [];
    for await (const hit of robot.mep.client.query({ queryEmbedding: await embedding([0.9, 0.1, 0], 'q'), k: 1, minSim: 0.5 })) hits.push(hit);
    expect(hits.map((h) => h.attributes['mep_id'])).toEqual(['cup']);
    await robot.close();
    await memory.close();
    expect(memory.mep.store!.size).toBe(2); // closing stops serving; the data stays readable
  });
});
