// SPDX-License-Identifier: Apache-2.0
// @ecps/tasks: distribution strategies, rebalancing, and a task table and leader election on a coordination store.

export { STRATEGIES, DEFAULT_BOOST, effectivePriority, orderTasks, chooseAgent, planAssignments, rebalance } from './strategies';
export { TaskTable } from './task-table';
export { LeaderElection } from './leader-election';

export type { Strategy, TaskSpec, AgentInfo, DeadlineBoost, Plan } from './strategies';
export type { TaskState, TaskEntry, TaskChange, TaskTableOptions } from './task-table';
export type { LeaderElectionOptions } from './leader-election';
export type { CoordinationStore, CoordinationWriteOptions } from './coordination-store';
