// SPDX-License-Identifier: Apache-2.0
// Three schedulers, each with its own etcd client, race to assign (and give back) the same tasks through the task
// table on a real 3-member etcd cluster while the test kills the etcd leader (SIGKILL), brings it back, and kills
// the next leader: no task is ever acknowledged to two agents in one epoch, every acknowledged release was of the
// acknowledged holder, and the final table agrees with the acknowledgements. A store whose compare-and-set does not
// compare is caught by the same checks. ECPS_SEED=<n> picks the schedulers' random choices.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { seededRandom } from '@ecps/core';
import type { CoordinationStore } from '@ecps/tasks';
import { TaskTable } from '@ecps/tasks';
import { sleep, startEtcdCluster } from '@ecps/testkit';
import type { EtcdClusterHandle } from '@ecps/testkit';
import { EtcdCoordinationStore } from '../src/index';
import { newLeader } from './etcd-leader';

const TASKS = 16;
const SCHEDULERS = ['s1', 's2', 's3'];
const SEED = Number(process.env['ECPS_SEED'] ?? 1);

/** Who was acknowledged, per task and epoch. */
type Acks = Map<string, Map<bigint, Set<string>>>;

interface Outcome {
  violations: string[];
  /** Wall-clock times of acknowledged assignments. */
  ackedAt: number[];
  /** Calls that ended without a known outcome. */
  unknown: number;
}

/** Runs the schedulers for `ms` while `faults` runs; then checks the acknowledgements against the final table. */
async function race(stores: CoordinationStore[], ms: number, faults: () => Promise<void>): Promise<Outcome> {
  const rand = seededRandom(SEED);
  const acks: Acks = new Map();
  const violations: string[] = [];
  const ackedAt: number[] = [];
  let unknown = 0;
  const admin = new TaskTable({ store: stores[0] as CoordinationStore });
  for (let t = 0; t < TASKS; t++) {
    await admin.submit({ id: `t${t}`, kind: 'k', priority: 0, deadlineMs: 0n, requiredCapabilities: [], cost: 1, payload: new Uint8Array(0) });
  }
  const ack = (taskId: string, epoch: bigint, agent: string) => {
    const byEpoch = acks.get(taskId) ?? new Map<bigint, Set<string>>();
    const agents = byEpoch.get(epoch) ?? new Set<string>();
    agents.add(agent);
    byEpoch.set(epoch, agents);
    acks.set(taskId, byEpoch);
    if (agents.size > 1) violations.push(`${taskId} epoch ${epoch} acknowledged to ${[...agents].join(', ')}`);
  };
  const until = Date.now() + ms;
  const loops = SCHEDULERS.map(async (s, i) => {
    const table = new TaskTable({ store: stores[i] as CoordinationStore });
    const released: [string, bigint, string][] = [];
    while (Date.now() < until) {
      const taskId = `t${rand.int(TASKS)}`;
      const agent = `${s}-agent${rand.int(2)}`;
      try {
        // half the time the scheduler plans on an epoch it read first
        const planned = rand.int(2) === 0 ? (await table.get(taskId))?.epoch : undefined;
        const r = await table.assign(taskId, agent, planned);
        if (!r.ok) continue;
        ack(taskId, r.epoch, agent);
        ackedAt.push(Date.now());
        // the agent gives half of its tasks back: a new epoch to race for
        if (rand.int(2) === 0) {
          const back = await table.release(taskId, agent);
          if (back.ok) released.push([taskId, back.epoch - 1n, agent]);
        }
      } catch {
        unknown++; // unknown outcome: the scheduler moves on
      }
    }
    return released;
  });
  const [releases] = await Promise.all([Promise.all(loops), faults()]);
  for (const [taskId, epoch, agent] of releases.flat()) {
    const holders = acks.get(taskId)?.get(epoch);
    if (holders && !holders.has(agent)) violations.push(`${taskId} epoch ${epoch} released by ${agent}, acknowledged to ${[...holders].join(', ')}`);
  }
  for (const entry of await admin.list()) {
    const holders = acks.get(entry.task.id)?.get(entry.epoch);
    if (!holders) continue;
    if (entry.state === 'pending') violations.push(`${entry.task.id} is pending at epoch ${entry.epoch}, acknowledged to ${[...holders].join(', ')}`);
    else if (!holders.has(entry.agentId)) violations.push(`${entry.task.id} held by ${entry.agentId}, acknowledged to ${[...holders].join(', ')}`);
  }
  return { violations, ackedAt, unknown };
}

let etcd: EtcdClusterHandle;
const stores: EtcdCoordinationStore[] = [];
const open = (namespace: string) =>
  SCHEDULERS.map(() => {
    const s = new EtcdCoordinationStore({ endpoints: etcd.endpoints, namespace, timeoutMs: 2_000 });
    stores.push(s);
    return s;
  });

beforeAll(async () => {
  etcd = await startEtcdCluster(3);
  await newLeader(etcd, -1);
}, 60_000);

afterAll(async () => {
  for (const s of stores) s.close();
  await etcd?.stop();
});

describe('task assignment on etcd', () => {
  it('never assigns a task twice while the etcd leader is killed, twice', async () => {
    const kills: { at: number; back: number; killed: number; next: number }[] = [];
    const faults = async () => {
      for (const delay of [1_500, 1_000]) {
        await sleep(delay);
        const killed = await newLeader(etcd, -1); // whoever leads now
        const at = Date.now();
        await etcd.kill(killed);
        const next = await newLeader(etcd, killed);
        await sleep(1_500);
        await etcd.restart(killed);
        kills.push({ at, back: Date.now(), killed, next });
      }
    };
    const r = await race(open('race/'), 9_000, faults);
    if (r.violations.length > 0) throw new Error(`seed ${SEED}: ${r.violations.join('; ')}`);
    // the kills happened to leaders, another member took over, and schedulers kept assigning while one was down
    expect(kills).toHaveLength(2);
    for (const k of kills) {
      expect(k.next).not.toBe(k.killed);
      expect(r.ackedAt.some((t) => t > k.at && t < k.back)).toBe(true);
    }
    expect(r.ackedAt.length).toBeGreaterThan(50);
  }, 60_000);

  it('catches a store whose compare-and-set does not compare', async () => {
    // the double assignment needs two schedulers to interleave; on a loaded machine one 2 s race may not get there
    for (let attempt = 0; attempt < 5; attempt++) {
      const violations = await blindRace(`blind-${attempt}/`);
      if (violations > 0) return;
    }
    throw new Error('five races of a store without compare-and-set found no double assignment');
  }, 60_000);
});

async function blindRace(prefix: string): Promise<number> {
  const blind = open(prefix).map(
    (s): CoordinationStore => ({
      get: (k) => s.get(k),
      list: (p, l) => s.list(p, l),
      compareAndSet: async (k, _expected, v, o) => {
        const { value } = await s.get(k);
        return s.compareAndSet(k, value, v, o);
      },
      grantLease: (t) => s.grantLease(t),
      keepAlive: (l) => s.keepAlive(l),
      revokeLease: (l) => s.revokeLease(l),
    }),
  );
  const r = await race(blind, 2_000, async () => undefined);
  return r.violations.length;
}
