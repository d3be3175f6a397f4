// SPDX-License-Identifier: Apache-2.0
// Three robots form a Raft group, elect a leader, take a formation and share tasks through the replicated task
// table; the leader is then killed and the survivors fail over, re-plan the formation and take its tasks.
import { MemoryStorage, RaftNode, transportNetwork } from '@ecps/raft';
import { startA2aAgent } from '@ecps/a2a';
import type { A2aAgent } from '@ecps/a2a';
import { planFormation } from '@ecps/swarm';
import type { Vec3 } from '@ecps/swarm';
import { TaskStateMachine, decodeTaskResult, planAssignments, taskCommands } from '@ecps/tasks';
import type { DemoStep } from '../step';

interface Robot {
  id: string;
  node: RaftNode;
  tasks: TaskStateMachine;
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
      const tasks = new TaskStateMachine();
      const node = await RaftNode.start({
        id,
        peers: { voters: ids, learners: [] },
        storage: new MemoryStorage(),
        stateMachine: tasks,
        network: transportNetwork({ transport, clusterId: 'demo-swarm', nodeId: id }),
        tickMs: 20,
      });
      const agent = await startA2aAgent({ transport, agentId: id, agentType: 'robot', capabilities: [{ name: 'move' }, { name: i === 2 ? 'camera' : 'gripper' }], heartbeatIntervalMs: 100 });
      robots.push({ id, node, tasks, agent, position: start[i] as Vec3 });
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
      await l.node.propose(taskCommands.submit({ id, kind: id, priority: i, deadlineMs: 0n, requiredCapabilities: caps, cost: 1, payload: new Uint8Array(0) }));
    }
    const agentsView = () =>
      robots
        .filter((r) => r === l || l.agent.peers().some((p) => p.id === r.id && p.available))
        .map((r) => ({ id: r.id, capabilities: r.id === 'robot-3' ? ['move', 'camera'] : ['move', 'gripper'], load: l.tasks.list().filter((t) => t.agentId === r.id && t.state === 'assigned').length, available: true }));
    const distribute = async () => {
      const pending = l.tasks.list().filter((t) => t.state === 'pending');
      const plan = planAssignments(
        'capability-based',
        pending.map((t) => ({ id: t.task.id, priority: t.task.priority, requiredCapabilities: t.task.requiredCapabilities, submittedSeq: t.submittedSeq })),
        agentsView(),
        { nowMs: Date.now() },
      );
      for (const a of plan.assignments) {
        const epoch = l.tasks.get(a.taskId)?.epoch ?? 0n;
        const r = decodeTaskResult(await l.node.propose(taskCommands.assign(a.taskId, a.agentId, epoch)));
        ctx.log(`tasks      ${a.taskId} → ${a.agentId} ${r.ok ? '(committed through Raft)' : `refused: ${r.reason}`}`);
      }
    };
    await distribute();

    // failover
    const victim = l;
    ctx.log(`raft       killing the leader ${victim.id}…`);
    await victim.agent.stop(false);
    await victim.node.close();
    const survivors = robots.filter((r) => r !== victim);
    const t0 = Date.now();
    await until(() => survivors.some((r) => r.node.isLeader()), 10_000, 'a new leader');
    l = survivors.find((r) => r.node.isLeader()) as Robot;
    if (l.tasks.list().length !== taskIds.length) throw new Error(`the new leader has ${l.tasks.list().length} tasks, not ${taskIds.length}`);
    ctx.held('raft', `${l.id} took over in term ${l.node.status().term} after ${Date.now() - t0} ms; the task table survived (${l.tasks.list().length} tasks)`);
    await until(() => l.agent.peers().some((p) => p.id === victim.id && !p.available), 5_000, 'the heartbeat timeout');
    ctx.held('a2a', `${victim.id} marked unavailable after its heartbeats stopped (kept in the registry)`);
    for (const t of l.tasks.list().filter((x) => x.agentId === victim.id && x.state === 'assigned')) {
      await l.node.propose(taskCommands.release(t.task.id, victim.id));
      ctx.log(`tasks      ${t.task.id} released from ${victim.id}`);
    }
    robots.splice(robots.indexOf(victim), 1);
    await distribute();
    const line = planFormation(survivors.map((r) => ({ id: r.id, position: r.position })), 'line', { center: { x: 2, y: 2, z: 0 }, spacing: 2 });
    for (const r of survivors) ctx.log(`swarm      ${r.id} → line slot ${line.slots.get(r.id)} ${fmt(line.targets.get(r.id) as Vec3)}`);
    for (const r of survivors) {
      await r.agent.stop();
      await r.node.close();
    }
  },
};

export default step;
