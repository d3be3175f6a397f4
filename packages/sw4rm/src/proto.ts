// SPDX-License-Identifier: Apache-2.0
// Every generated SW4RM message, enum and service, flat (names are unique across the 17 files).
export * from './gen/common';
export * from './gen/router';
export * from './gen/registry';
export * from './gen/scheduler';
export * from './gen/scheduler_policy';
export * from './gen/policy';
export * from './gen/hitl';
export * from './gen/worktree';
export * from './gen/tool';
export * from './gen/connector';
export * from './gen/negotiation';
export * from './gen/reasoning';
export * from './gen/logging';
export * from './gen/activity';
export * from './gen/negotiation_room';
export * from './gen/handoff';
export * from './gen/workflow';
export * from './gen/google/protobuf/timestamp';
export * from './gen/google/protobuf/duration';
