// SPDX-License-Identifier: Apache-2.0
// What a demo step gets and what it is. Each layer of the stack adds one step in ./steps.
import type { Transport } from '@ecps/core';
import type { EcpsNode, NodeOptions } from '@ecps/runtime';

export interface DemoContext {
  /** Prints one line of the demo's story. */
  log(line: string): void;
  /** A node on the demo's network (closed when the demo ends). */
  createNode(id: string, options?: Omit<NodeOptions, 'id' | 'transport'>): Promise<EcpsNode>;
  /** A bare transport for `nodeId` on the demo's network (closed when the demo ends). */
  transportFor(nodeId: string): Transport;
  /** The MQTT broker the demo runs over, when it runs over one. */
  brokerUrl?: string;
  /** Shared between steps (e.g. a node one step creates and a later one reuses). */
  state: Map<string, unknown>;
}

export interface DemoStep {
  title: string;
  run(ctx: DemoContext): Promise<void>;
}
