// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-scheduler.

export { Scheduler } from './scheduler';
export { LaneQueue } from './lanes';
export { controlEnvelope, parseControl, reportEnvelope, parseReport } from './control';
export { startScheduler, addSchedulerService } from './server';

export type { TaskState, ControlCommand, Task, SchedulerOptions, SubmitOptions, ParallelismChecker, ScopeConflict } from './scheduler';
export type { AgentReport, ReportStatus, ReportExtras } from './control';
export type { LaneOptions } from './lanes';
export type { StartSchedulerOptions, RunningScheduler } from './server';
