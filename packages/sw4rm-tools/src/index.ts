// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/sw4rm-tools.

export { ToolCatalog, CATALOG_LIMITS } from './tool-catalog';
export { LocalTools, ToolRunError, effectivePolicy } from './local-tools';
export { ToolService } from './tool-service';
export { startTools, addToolServices } from './server';

export type { LocalToolSpec, RunContext, RunResult, ToolFailure } from './local-tools';
export type { ToolServiceOptions } from './tool-service';
export type { StartToolsOptions, RunningTools } from './server';
