// SPDX-License-Identifier: Apache-2.0
// What a demo step gets and what it is. Each layer of the stack adds one step in ./steps.
import type { Transport } from '@ecps/core';
import type { EcpsNode, NodeOptions } from '@ecps/runtime';

export interface DemoContext {
  /** Prints one line of the demo's story (`actor      → what it sends`, `actor      ← what it got`). */
  log(line: string): void;
  /**
   * A check that held, printed `actor ✓ text` and counted in the closing line. When a check does not hold, throw
   * instead: the step fails and the demo exits 1.
   */
  held(actor: string, text: string): void;
  /**
   * A refusal the stack is meant to make (an oversized prompt, a forged action), printed `actor ⊘ expected refusal:
   * text` and counted as a check that held. Call it only after checking the refusal happened.
   */
  refused(actor: string, text: string): void;
  /** A node on the demo's network (closed when the demo ends). */
  createNode(id: string, options?: Omit<NodeOptions, 'id' | 'transport'>): Promise<EcpsNode>;
  /** A bare transport for `nodeId` on the demo's network (closed when the demo ends). */
  transportFor(nodeId: string): Transport;
  /** A fresh temporary folder, removed when the demo ends (also when it fails or is interrupted). */
  tempDir(name: string): string;
  /** The MQTT broker the demo runs over, when it runs over one. */
  brokerUrl?: string;
  /** `ecps demo --keep-log DIR`: where the action-log step keeps its log (absent: a temporary folder). */
  keepLogDir?: string;
  /** Shared between steps (e.g. a node one step creates and a later one reuses). */
  state: Map<string, unknown>;
}

export interface DemoStep {
  title: string;
  run(ctx: DemoContext): Promise<void>;
  /** How long this step may take (default 60 s); `stepTimeoutMs` of the run overrides it. */
  timeoutMs?: number;
}

/** What the demo reports, in order (`ecps demo --json` prints one per line). */
export type DemoEvent =
  | { type: 'start'; network: string; brokerUrl?: string; embeddedBroker: boolean; steps: number }
  | { type: 'step'; index: number; steps: number; title: string }
  | { type: 'line'; step: number; text: string; check?: 'held' | 'refused' }
  | { type: 'end'; steps: number; checks: number; refusals: number }
  | { type: 'failed'; step: number; title: string; checks: number; reason: string }
  | { type: 'stopped'; step: number; checks: number };

/** How a finished demo went. */
export interface DemoSummary {
  /** Steps run to the end. */
  steps: number;
  /** Checks that held, expected refusals included. */
  checks: number;
  /** Of those, the refusals. */
  refusals: number;
  /** True when the demo was stopped early through its `signal`. */
  stopped: boolean;
}
