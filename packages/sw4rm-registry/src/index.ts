// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-registry.

export { Registry } from './registry';
export { startRegistry, addRegistryService } from './server';

export type { AgentEntry, RegistryOptions } from './registry';
export type { StartRegistryOptions, RunningRegistry } from './server';
