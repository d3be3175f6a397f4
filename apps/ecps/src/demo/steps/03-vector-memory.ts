// SPDX-License-Identifier: Apache-2.0
// A memory node stores what the robot has seen as embeddings and answers similarity queries (MEP), while two
// replicas keep a strong quorum of every write.
import { seededRandom } from '@ecps/core';
import { createTensor, encodeTensorFrame } from '@ecps/ltp';
import { createMemoryStore, type MemoryStore } from '@ecps/mep';
import type { DemoStep } from '../step';

const DIM = 64;

function embed(seed: number, noise = 0, base?: Float32Array): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: DIM }, (_, i) => (base ? base[i]! : random.float() * 2 - 1) + noise * (random.float() * 2 - 1));
}

const step: DemoStep = {
  title: 'MEP vector memory: a memory node stores embeddings (strong quorum over 2 replicas) and answers queries',
  async run(ctx) {
    const replicaIds = ['memory-replica-1', 'memory-replica-2'];
    const replicas: MemoryStore[] = [];
    for (const id of replicaIds) {
      const transport = ctx.transportFor(id);
      await transport.connect();
      const peers = ['memory', ...replicaIds.filter((p) => p !== id)];
      replicas.push(await createMemoryStore({ nodeId: id, replication: { transport, peers, mode: 'strong' } }));
    }
    const memory = await ctx.createNode('memory', {
      mep: { store: { maxSize: 1000, replication: { peers: replicaIds, mode: 'strong' } } },
    });
    const robot = await ctx.createNode('robot-eyes');
    try {
      const objects = ['red cube', 'blue cylinder', 'green sphere', 'yellow tray', 'gripper finger'];
      const vectors = objects.map((_, i) => embed(100 + i));
      for (const [i, name] of objects.entries()) {
        const frame = await encodeTensorFrame(createTensor('f32', [DIM], vectors[i]!), {
          frameId: 'camera_optical',
          attributes: { mep_id: name },
        });
        const ack = await robot.mep.client.put(frame);
        ctx.log(`robot-eyes → Put ${JSON.stringify(name)} (${DIM}-d f32): ${ack.success ? 'stored' : 'refused'} "${ack.message}"`);
      }
      // a strong Put returns once a quorum (2 of 3) applied it; the third replica may trail by a moment
      for (let i = 0; i < 100 && replicas.some((r) => r.size < objects.length); i++) await new Promise((r) => setTimeout(r, 10));
      ctx.log(
        `memory     ✓ ${memory.mep.store!.size} embeddings, replicas hold ${replicas.map((r) => r.size).join(' and ')} (quorum 2 of 3)`,
      );

      const seen = embed(7, 0.35, vectors[0]); // the red cube again, from another angle
      const query = await encodeTensorFrame(createTensor('f32', [DIM], seen), { frameId: 'camera_optical' });
      ctx.log('robot-eyes → Query: what have I seen that looks like this? (k = 0 → the default 10, min_sim 0.2)');
      for await (const hit of robot.mep.client.query({ queryEmbedding: query, k: 0, minSim: 0.2 })) {
        ctx.log(`robot-eyes ← ${JSON.stringify(hit.attributes['mep_id'])} similarity ${hit.attributes['similarity']} (frame ${hit.frameId})`);
      }
      const bad = await robot.mep.client.put({ ...query, shape: [DIM + 1] });
      ctx.log(`robot-eyes → Put with a wrong shape: refused "${bad.message}"`);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  },
};

export default step;
