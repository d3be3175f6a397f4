// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/mcp.

export { createMcpMessage, readMcpMessage, mcpToEvent, mcpFromEvent } from './message';
export { createMcp, MCP_TOPIC, MCP_SERVICE } from './mcp';

export type { McpPromptInput, McpPrompt } from './message';
export type { Mcp, McpOptions, McpRequestOptions, McpOnPromptOptions, McpInput } from './mcp';
