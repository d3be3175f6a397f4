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
      if (memory.mep.store!.size !== objects.length) throw new Error(`the memory holds ${memory.mep.store!.size} embeddings, not ${objects.length}`);
      ctx.held('memory', `${memory.mep.store!.size} embeddings stored; the replicas hold ${replicas.map((r) => r.size).join(' and ')} (a strong write waits for 2 of the 3 copies)`);

      const seen = embed(7, 0.35, vectors[0]); // the red cube again, from another angle
      const query = await encodeTensorFrame(createTensor('f32', [DIM], seen), { frameId: 'camera_optical' });
      ctx.log('robot-eyes → Query: what have I seen that looks like this? (k = 0: up to the default of 10 matches; only similarity ≥ 0.2 counts)');
      const hits: string[] = [];
      for await (const hit of robot.mep.client.query({ queryEmbedding: query, k: 0, minSim: 0.2 })) {
        const name = String(hit.attributes['mep_id']);
        hits.push(name);
        ctx.log(`robot-eyes ← ${JSON.stringify(name)} similarity ${Number(hit.attributes['similarity']).toFixed(3)} (cosine, 1 = same direction; frame ${hit.frameId})`);
      }
      if (hits[0] !== 'red cube') throw new Error(`the closest match is ${hits[0] ?? 'nothing'}, not the red cube`);
      ctx.held('robot-eyes', 'the red cube, seen from another angle, is the closest match');
      ctx.log(`robot-eyes → Put with a wrong shape: ${DIM + 1} f32 values declared, ${DIM} sent`);
      const bad = await robot.mep.client.put({ ...query, shape: [DIM + 1] });
      if (bad.success) throw new Error('a Put whose shape does not match its bytes was stored');
      ctx.refused('memory', `the Put is not stored: "${bad.message}"`);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  },
};

export default step;
