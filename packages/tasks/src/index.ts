// SPDX-License-Identifier: Apache-2.0
// @ecps/tasks: distribution strategies, rebalancing, and a Raft-replicated task table.

export { STRATEGIES, DEFAULT_BOOST, effectivePriority, orderTasks, chooseAgent, planAssignments, rebalance } from './strategies';
export { TaskStateMachine, taskCommands, decodeTaskResult } from './task-state-machine';

export type { Strategy, TaskSpec, AgentInfo, DeadlineBoost, Plan } from './strategies';
export type { TaskState, TaskEntry } from './task-state-machine';
