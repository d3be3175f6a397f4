// SPDX-License-Identifier: Apache-2.0
// Schedulers race to assign the same tasks through the task table on a 3-member Raft KV (the production code in the
// seeded simulator), under real partitions that put schedulers and nodes on different sides, leader isolation,
// one-way cuts, crashes that lose unsynced bytes, and pauses: no task is ever acknowledged to two agents, the
// table agrees with every acknowledgement, and all replicas end with the same table.
// ECPS_SEED=<n> replays one seed.
import { describe, expect, it } from '@jest/globals';
import { seededRandom } from '@ecps/core';
import { TaskTable } from '../src/task-table';
import { SimRaftKv } from './sim-raft-kv';

const TASKS = 12;
const SCHEDULERS = ['s1', 's2', 's3'];

async function run(seed: number): Promise<{ acked: Map<string, Set<string>>; violations: string[]; timeouts: number; blocked: number }> {
  const kv = new SimRaftKv(seed);
  const rand = seededRandom(seed + 1000);
  const violations: string[] = [];
  const admin = new TaskTable({ store: kv.client('admin', 5_000), clock: kv.net.clock('admin') });
  for (let t = 0; t < TASKS; t++) {
    const task = { id: `t${t}`, kind: 'k', priority: 0, deadlineMs: 0n, requiredCapabilities: [], cost: 1, payload: new Uint8Array(0) };
    const r = await kv.settle(admin.submit(task), 10_000);
    if (r.error !== undefined) throw new Error(`seed ${seed}: submit failed: ${String(r.error)}`);
  }
  const acked = new Map<string, Set<string>>();
  let timeouts = 0;
  const until = kv.net.now + 1_500;
  const everyone = [...kv.ids, ...SCHEDULERS];
  const loops = SCHEDULERS.map(async (s) => {
    const table = new TaskTable({ store: kv.client(s), clock: kv.net.clock(s) });
    while (kv.net.now < until) {
      const taskId = `t${rand.int(TASKS)}`;
      const agent = `${s}-agent${rand.int(2)}`;
      try {
        // half the time the scheduler plans on an epoch it read first
        const epoch = rand.int(2) === 0 ? (await table.get(taskId))?.epoch : undefined;
        const r = await table.assign(taskId, agent, epoch);
        if (r.ok) {
          const set = acked.get(taskId) ?? new Set<string>();
          set.add(agent);
          acked.set(taskId, set);
        }
      } catch {
        timeouts++; // unknown outcome: the scheduler moves on
      }
    }
  });
  let running = true;
  void Promise.all(loops).finally(() => (running = false));
  const nemesis = () => {
    if (kv.net.now > until) return;
    const roll = rand.int(6);
    if (roll === 0) {
      const shuffled = [...everyone].sort(() => rand.float() - 0.5);
      const cut = 1 + rand.int(shuffled.length - 1);
      kv.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    } else if (roll === 1) {
      const leader = kv.ids.find((id) => kv.nodes.get(id)?.isLeader());
      if (leader) kv.net.partition([[leader, SCHEDULERS[rand.int(3)] as string]]);
    } else if (roll === 2) {
      kv.net.heal();
    } else if (roll === 3) {
      kv.net.cutOneWay(everyone[rand.int(everyone.length)] as string, everyone[rand.int(everyone.length)] as string);
    } else if (roll === 4) {
      const up = kv.ids.filter((id) => kv.net.isUp(id));
      if (up.length === 3) kv.crash(up[rand.int(3)] as string);
      else for (const id of kv.ids) if (!kv.net.isUp(id)) kv.start(id);
    } else {
      kv.net.pause(kv.ids[rand.int(3)] as string, 50 + rand.int(200));
    }
    kv.net.schedule(80 + rand.int(150), nemesis);
  };
  kv.net.schedule(50, nemesis);
  await kv.net.runWhileAsync(() => !running, until + 20_000);
  const blocked = kv.net.stats.blocked;
  // faults end: every replica catches up and holds the same table
  kv.net.heal();
  for (const id of kv.ids) if (!kv.net.isUp(id)) kv.start(id);
  const final = await kv.settle(admin.list(), 10_000);
  if (final.error !== undefined || !final.value) throw new Error(`seed ${seed}: no progress after the faults: ${String(final.error)}`);
  const commit = Math.max(...kv.ids.map((id) => kv.nodes.get(id)?.status().commit ?? 0));
  await kv.net.runWhileAsync(() => kv.ids.every((id) => (kv.nodes.get(id)?.status().applied ?? 0) >= commit), kv.net.now + 10_000);
  const tables = kv.ids.map((id) => JSON.stringify(kv.stores.get(id)?.range('tasks/').map((e) => [e.key, Buffer.from(e.value).toString('hex')])));
  if (new Set(tables).size !== 1) violations.push('replicas hold different task tables');
  for (const [taskId, agents] of acked) {
    if (agents.size > 1) violations.push(`${taskId} acknowledged to ${[...agents].join(', ')}`);
    const owner = final.value.find((e) => e.task.id === taskId)?.agentId;
    if (owner !== [...agents][0]) violations.push(`${taskId}: acknowledged to ${[...agents][0]} but the table says ${owner}`);
  }
  violations.push(...kv.errors);
  return { acked, violations, timeouts, blocked };
}

describe('task assignment through the task table on Raft', () => {
  const seeds = process.env.ECPS_SEED ? [Number(process.env.ECPS_SEED)] : Array.from({ length: 25 }, (_, i) => i + 1);
  it(`never assigns a task twice across partitions, crashes and leader changes (${seeds.length} seeds)`, async () => {
    let assigned = 0;
    let timeouts = 0;
    let blocked = 0;
    for (const seed of seeds) {
      const r = await run(seed);
      if (r.violations.length > 0) throw new Error(`seed ${seed} (replay with ECPS_SEED=${seed}): ${r.violations.join('; ')}`);
      assigned += r.acked.size;
      timeouts += r.timeouts;
      blocked += r.blocked;
    }
    expect(assigned).toBeGreaterThan(seeds.length * 3);
    if (seeds.length > 1) {
      // the partitions did cut traffic, and schedulers did lose answers
      expect(blocked).toBeGreaterThan(0);
      expect(timeouts).toBeGreaterThan(0);
    }
  }, 600_000);
});
