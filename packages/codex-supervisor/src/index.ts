// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/codex-supervisor.

export { Supervisor, RECONCILED_ERROR } from './supervisor';
export { SUPERVISOR_DEFAULTS, supervisorConfigFromEnv } from './config';
export { botEnvironment, identityEnvironment, HOST_VARIABLES } from './environment';
export { probeSandbox, wrapCommand } from './isolation';
export { launchBot, resolveBlueprint, isSandboxed } from './launch';
export { rotateLog, readLogTail, logFile } from './logs';
export { probe } from './health';
export { scanProcessGroups, processGroupMembers, signalGroup } from './proc';

export type { SupervisorOptions, StartResult, StopResult, SupervisedChild, ReconcileReport } from './supervisor';
export type { SupervisorConfig } from './config';
export type { SandboxCapabilities, IsolationLevelReport, IsolationSettings, WrapInput } from './isolation';
export type { LaunchedBot } from './launch';
export type { LogStream } from './logs';
export type { ProbeResult } from './health';
export type { GroupUsage } from './proc';
