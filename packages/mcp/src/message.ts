// SPDX-License-Identifier: Apache-2.0
// MCP prompt messages (spec §2, §3, §7.1): building, validating and mapping to CloudEvents.
import {
  EVENT_TYPES,
  SPEC_STRINGS,
  ValidationError,
  assertValidMcp,
  cryptoRandom,
  type EcpsEvent,
  type RandomSource,
  uuidv4,
} from '@ecps/core';
import type { MCP } from '@ecps/proto';
import { decodeEvent, encodeEvent, type EventInit } from '@ecps/serialization';

/** What a caller gives to build a prompt. */
export interface McpPromptInput {
  prompt: string;
  /** Message id; default a fresh UUID v4 (which also becomes the CloudEvents id). */
  id?: string;
  /** Tool schema: a JSON value (serialised), a JSON string, or UTF-8 JSON bytes. Validated either way. */
  tools?: unknown;
  meta?: Readonly<Record<string, string>>;
}

/** A validated prompt as received. */
export interface McpPrompt {
  spec: string;
  id: string;
  prompt: string;
  /** The raw `tool_json` bytes (empty when absent). */
  toolJson: Uint8Array;
  /** `tool_json` parsed, or undefined when absent. */
  tools: unknown;
  meta: Record<string, string>;
  /** CloudEvents source of the sender (`urn:ecps:<node>`), when received from a transport. */
  source?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function toolBytes(tools: unknown): Uint8Array {
  if (tools === undefined || tools === null) return new Uint8Array(0);
  if (tools instanceof Uint8Array) return tools;
  if (typeof tools === 'string') return new TextEncoder().encode(tools);
  let text: string | undefined;
  try {
    text = JSON.stringify(tools);
  } catch (cause) {
    throw new ValidationError('INVALID_TOOL_JSON', 'tools cannot be serialised as JSON', { cause });
  }
  if (text === undefined) throw new ValidationError('INVALID_TOOL_JSON', 'tools is not a JSON value');
  return new TextEncoder().encode(text);
}

/**
 * Builds a canonical MCP message (spec `mcp/1.0`, id = UUID v4 unless supplied, tool_json only when non-empty,
 * meta copied) and validates it. Throws `PROMPT_TOO_LARGE` (over 16384 UTF-8 bytes; never truncated),
 * `INVALID_TOOL_JSON`, or `INVALID_ARGUMENT` for a non-string prompt or meta value.
 */
export function createMcpMessage(input: McpPromptInput, random: RandomSource = cryptoRandom): MCP {
  if (typeof input.prompt !== 'string') throw new ValidationError('INVALID_ARGUMENT', 'prompt must be a string');
  const meta: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.meta ?? {})) {
    if (typeof value !== 'string') throw new ValidationError('INVALID_ARGUMENT', `meta[${JSON.stringify(key)}] must be a string`);
    meta[key] = value;
  }
  const message: MCP = {
    spec: SPEC_STRINGS.mcp,
    id: input.id ?? uuidv4(random),
    prompt: input.prompt,
    toolJson: toolBytes(input.tools),
    meta,
  };
  assertValidMcp(message);
  return message;
}

/**
 * Validates a received MCP message (spec string, prompt size, tool_json) and returns it as an {@link McpPrompt}.
 * Throws `UNSUPPORTED_VERSION`, `PROMPT_TOO_LARGE` or `INVALID_TOOL_JSON`.
 */
export function readMcpMessage(message: MCP, source?: string): McpPrompt {
  assertValidMcp(message);
  return {
    spec: message.spec,
    id: message.id,
    prompt: message.prompt,
    toolJson: message.toolJson,
    tools: message.toolJson.length === 0 ? undefined : JSON.parse(utf8.decode(message.toolJson)),
    meta: { ...message.meta },
    ...(source === undefined ? {} : { source }),
  };
}

/** The CloudEvent (type `ecps.mcp.prompt`, id = the message id) for an MCP message. */
export function mcpToEvent(message: MCP, init: EventInit): EcpsEvent {
  return encodeEvent('MCP', message, init);
}

/**
 * Decodes and validates the MCP message of an event; an empty `id` is filled from the CloudEvents id (spec §7.1).
 * Throws `DECODE_ERROR` for a wrong type or undecodable data, and the validation errors of {@link readMcpMessage}.
 */
export function mcpFromEvent(event: EcpsEvent): McpPrompt {
  if (event.type !== EVENT_TYPES.mcp) throw new ValidationError('DECODE_ERROR', `expected an ${EVENT_TYPES.mcp} event, got ${event.type}`);
  let message: MCP;
  try {
    message = decodeEvent('MCP', event);
  } catch (cause) {
    if (cause instanceof ValidationError) throw cause;
    throw new ValidationError('DECODE_ERROR', 'undecodable MCP message', { cause });
  }
  return readMcpMessage(message.id === '' ? { ...message, id: event.id } : message, event.source);
}
