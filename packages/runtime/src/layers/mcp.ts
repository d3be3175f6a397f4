// SPDX-License-Identifier: Apache-2.0
// node.mcp: the MCP layer of @ecps/mcp on the node's transport, profile, clock, randomness and logger.
import { createMcp, type Mcp, type McpOptions } from '@ecps/mcp';
import type { LayerContext } from './context';

/** MCP settings a node accepts (everything but what the node itself provides). */
export type NodeMcpOptions = Omit<McpOptions, 'transport' | 'nodeId' | 'profile' | 'clock' | 'random' | 'logger'>;

export function attachMcp(context: LayerContext, options: NodeMcpOptions = {}): Mcp {
  return createMcp({ ...options, ...context });
}
