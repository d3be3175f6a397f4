// SPDX-License-Identifier: Apache-2.0
// MCP over any Transport: publish prompts on topic `mcp`, receive them, and a request/response helper (spec §7.1, §9).
import {
  DEFAULT_QOS,
  EcpsError,
  assertNodeId,
  cryptoRandom,
  getProfileQos,
  isIgnoredEventType,
  nodeSource,
  silentLogger,
  systemClock,
  type Clock,
  type EcpsEvent,
  type Logger,
  type ProfileName,
  type QosLevel,
  type RandomSource,
  type Subscription,
  type Transport,
} from '@ecps/core';
import { createMcpMessage, mcpFromEvent, mcpToEvent, type McpPrompt, type McpPromptInput } from './message';

/** Default topic of MCP prompts (spec §9). */
export const MCP_TOPIC = 'mcp';
/** Service name of the request/response helper: requests go to `mcp/request`, replies to `response/{correlation}`. */
export const MCP_SERVICE = 'mcp';

export interface McpOptions {
  transport: Transport;
  nodeId: string;
  /** Default `mcp`. */
  topic?: string;
  /** Scales the default request timeout (spec §8; standard: 30 s). */
  profile?: ProfileName;
  /** Default RELIABLE (1), per the MCP QoS table. */
  qos?: QosLevel;
  clock?: Clock;
  random?: RandomSource;
  logger?: Logger;
}

export interface McpRequestOptions {
  /** Default: the profile's MCP `timeout_s` (30 s in `standard`). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface McpOnPromptOptions {
  /** A received event that is not a valid prompt (typed `EcpsError`). */
  onError?(error: unknown, event: EcpsEvent): void;
}

export type McpInput = string | McpPromptInput;

export interface Mcp {
  /** Publishes a prompt on the topic. Resolves to the sent prompt. Throws the validation errors of `createMcpMessage`. */
  send(prompt: McpInput): Promise<McpPrompt>;
  /** Calls `handler` for every valid prompt on the topic; invalid ones go to `onError`, never to the handler. */
  onPrompt(handler: (prompt: McpPrompt) => void | Promise<void>, options?: McpOnPromptOptions): Promise<Subscription>;
  /**
   * Sends a prompt to whoever serves MCP and waits for the reply prompt. Rejects with `TIMEOUT`, `CANCELLED`,
   * `REMOTE_ERROR` (the server's handler threw) or a validation error of the request or the reply.
   */
  request(prompt: McpInput, options?: McpRequestOptions): Promise<McpPrompt>;
  /** Answers requests; the handler's return value is the reply prompt. */
  serve(handler: (prompt: McpPrompt) => McpInput | Promise<McpInput>): Promise<Subscription>;
  close(): Promise<void>;
}

/** Creates an MCP endpoint. Throws `INVALID_ARGUMENT` for a bad node id. */
export function createMcp(options: McpOptions): Mcp {
  const { transport } = options;
  const source = nodeSource(assertNodeId(options.nodeId));
  const topic = options.topic ?? MCP_TOPIC;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const logger = options.logger ?? silentLogger;
  const qos = options.qos ?? (DEFAULT_QOS.MCP.reliability as QosLevel);
  const defaultTimeoutMs = getProfileQos(options.profile ?? 'standard', 'MCP').timeoutS * 1000;
  const subscriptions = new Set<Subscription>();
  let closed = false;

  const build = (input: McpInput) => createMcpMessage(typeof input === 'string' ? { prompt: input } : input, random);
  const event = (input: McpInput) => mcpToEvent(build(input), { source, clock, random });
  const track = (sub: Subscription): Subscription => {
    subscriptions.add(sub);
    return {
      filter: sub.filter,
      async unsubscribe() {
        subscriptions.delete(sub);
        await sub.unsubscribe();
      },
    };
  };
  const assertOpen = () => {
    if (closed) throw new EcpsError('CLOSED', 'MCP endpoint is closed');
  };

  return {
    async send(input) {
      assertOpen();
      const e = event(input);
      await transport.publish(topic, e, { qos });
      return mcpFromEvent(e);
    },

    async onPrompt(handler, handlerOptions = {}) {
      assertOpen();
      const sub = await transport.subscribe(
        topic,
        async (e) => {
          if (isIgnoredEventType(e.type)) return;
          let prompt: McpPrompt;
          try {
            prompt = mcpFromEvent(e);
          } catch (error) {
            logger.debug('mcp: rejected prompt', { error: String(error), source: e.source });
            handlerOptions.onError?.(error, e);
            return;
          }
          await handler(prompt);
        },
        { qos },
      );
      return track(sub);
    },

    async request(input, requestOptions = {}) {
      assertOpen();
      const reply = await transport.request(MCP_SERVICE, event(input), {
        timeoutMs: requestOptions.timeoutMs ?? defaultTimeoutMs,
        qos,
        ...(requestOptions.signal ? { signal: requestOptions.signal } : {}),
      });
      return mcpFromEvent(reply);
    },

    async serve(handler) {
      assertOpen();
      const sub = await transport.serve(MCP_SERVICE, async (request) => event(await handler(mcpFromEvent(request))));
      return track(sub);
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...subscriptions].map((s) => s.unsubscribe()));
      subscriptions.clear();
    },
  };
}
