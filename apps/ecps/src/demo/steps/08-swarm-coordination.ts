// SPDX-License-Identifier: Apache-2.0
// Three robots form a Raft group serving the replicated key-value store, elect a leader, take a formation and share
// tasks through the task table on that store; the leader is then killed and the survivors fail over, re-plan the
// formation and take its tasks.
import type { Subscription } from '@ecps/core';
import { KvClient, KvStateMachine, MemoryStorage, RaftNode, serveKv, transportNetwork } from '@ecps/raft';
import { startA2aAgent } from '@ecps/a2a';
import type { A2aAgent } from '@ecps/a2a';
import { planFormation } from '@ecps/swarm';
import type { Vec3 } from '@ecps/swarm';
import { TaskTable, planAssignments } from '@ecps/tasks';
import type { DemoStep } from '../step';

interface Robot {
  id: string;
  node: RaftNode;
  kv: Subscription;
  /** This robot's view of the task table, through its own KV client session. */
  client: KvClient;
  tasks: TaskTable;
  agent: A2aAgent;
  position: Vec3;
}

const fmt = (v: Vec3) => `(${v.x.toFixed(2)}, ${v.y.toFixed(2)})`;

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const step: DemoStep = {
  title: 'Swarm: Raft leader election, formation, task distribution and failover',
  async run(ctx) {
    const ids = ['robot-1', 'robot-2', 'robot-3'];
    const start: Vec3[] = [{ x: 0, y: 0, z: 0 }, { x: 4, y: 1, z: 0 }, { x: 2, y: 5, z: 0 }];
    const robots: Robot[] = [];
    for (const [i, id] of ids.entries()) {
      const transport = ctx.transportFor(id);
      await transport.connect();
      const store = new KvStateMachine();
      const node = await RaftNode.start({
        id,
        peers: { voters: ids, learners: [] },
        storage: new MemoryStorage(),
        stateMachine: store,
        network: transportNetwork({ transport, clusterId: 'demo-swarm', nodeId: id }),
        tickMs: 20,
      });
      const kv = await serveKv({ transport, clusterId: 'demo-swarm', node, store });
      const client = new KvClient({ transport, clusterId: 'demo-swarm', members: ids, nodeId: id });
      const agent = await startA2aAgent({ transport, agentId: id, agentType: 'robot', capabilities: [{ name: 'move' }, { name: i === 2 ? 'camera' : 'gripper' }], heartbeatIntervalMs: 100 });
      robots.push({ id, node, kv, client, tasks: new TaskTable({ store: client }), agent, position: start[i] as Vec3 });
    }
    const leader = () => robots.find((r) => r.node.isLeader());
    await until(() => leader() !== undefined, 5_000, 'a leader');
    let l = leader() as Robot;
    ctx.held('raft', `${l.id} elected leader of term ${l.node.status().term}; ${l.agent.peers().length} peers discovered by heartbeat`);

    const formation = planFormation(robots.map((r) => ({ id: r.id, position: r.position })), 'triangle', { center: { x: 2, y: 2, z: 0 }, spacing: 2 });
    for (const r of robots) {
      const target = formation.targets.get(r.id) as Vec3;
      ctx.log(`swarm      ${r.id} ${fmt(r.position)} → triangle slot ${formation.slots.get(r.id)} ${fmt(target)}`);
      r.position = target;
    }
    ctx.log(`swarm      total travel ${formation.totalDistance.toFixed(2)} m (Hungarian assignment)`);

    const taskIds = ['inspect-shelf', 'pick-cube', 'scan-aisle', 'pick-box'];
    for (const [i, id] of taskIds.entries()) {
      const caps = id.startsWith('pick') ? ['gripper'] : id.startsWith('scan') ? ['camera'] : [];
      await l.tasks.submit({ id, kind: id, priority: i, deadlineMs: 0n, requiredCapabilities: caps, cost: 1, payload: new Uint8Array(0) });
    }
    const agentsView = async () => {
      const table = await l.tasks.list();
      return robots
        .filter((r) => r === l || l.agent.peers().some((p) => p.id === r.id && p.available))
        .map((r) => ({ id: r.id, capabilities: r.id === 'robot-3' ? ['move', 'camera'] : ['move', 'gripper'], load: table.filter((t) => t.agentId === r.id && t.state === 'assigned').length, available: true }));
    };
    const distribute = async () => {
      const plan = planAssignments('capability-based', await l.tasks.pending(), await agentsView(), { nowMs: Date.now() });
      for (const a of plan.assignments) {
        const r = await l.tasks.assign(a.taskId, a.agentId);
        ctx.log(`tasks      ${a.taskId} → ${a.agentId} ${r.ok ? '(committed through Raft)' : `refused: ${r.reason}`}`);
      }
    };
    await distribute();

    // failover
    const victim = l;
    ctx.log(`raft       killing the leader ${victim.id}…`);
    await victim.agent.stop(false);
    await victim.client.close();
    await victim.kv.unsubscribe();
    await victim.node.close();
    const survivors = robots.filter((r) => r !== victim);
    const t0 = Date.now();
    await until(() => survivors.some((r) => r.node.isLeader()), 10_000, 'a new leader');
    l = survivors.find((r) => r.node.isLeader()) as Robot;
    const survived = (await l.tasks.list()).length;
    if (survived !== taskIds.length) throw new Error(`the new leader has ${survived} tasks, not ${taskIds.length}`);
    ctx.held('raft', `${l.id} took over in term ${l.node.status().term} after ${Date.now() - t0} ms; the task table survived (${survived} tasks)`);
    await until(() => l.agent.peers().some((p) => p.id === victim.id && !p.available), 5_000, 'the heartbeat timeout');
    ctx.held('a2a', `${victim.id} marked unavailable after its heartbeats stopped (kept in the registry)`);
    for (const t of (await l.tasks.list()).filter((x) => x.agentId === victim.id && x.state === 'assigned')) {
      await l.tasks.release(t.task.id, victim.id);
      ctx.log(`tasks      ${t.task.id} released from ${victim.id}`);
    }
    robots.splice(robots.indexOf(victim), 1);
    await distribute();
    const line = planFormation(survivors.map((r) => ({ id: r.id, position: r.position })), 'line', { center: { x: 2, y: 2, z: 0 }, spacing: 2 });
    for (const r of survivors) ctx.log(`swarm      ${r.id} → line slot ${line.slots.get(r.id)} ${fmt(line.targets.get(r.id) as Vec3)}`);
    for (const r of survivors) {
      await r.agent.stop();
      await r.client.close();
      await r.kv.unsubscribe();
      await r.node.close();
    }
  },
};

export default step;
