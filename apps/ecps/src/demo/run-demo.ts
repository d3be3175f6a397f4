// SPDX-License-Identifier: Apache-2.0
// `ecps demo`: the main job, on an embedded default network, narrated line by line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Transport } from '@ecps/core';
import { createNode, type EcpsNode } from '@ecps/runtime';
import { describeError } from '../kit/errors';
import { createDemoNetwork, type DemoNetworkOptions } from './network';
import type { DemoContext, DemoEvent, DemoStep, DemoSummary } from './step';
import { demoSteps } from './steps/index';

export interface RunDemoOptions extends DemoNetworkOptions {
  /** Where the text lines go (default: stdout). */
  out?: (line: string) => void;
  /** Receives every event as data (`ecps demo --json`). */
  onEvent?: (event: DemoEvent) => void;
  /** Steps to run (default: all). */
  steps?: DemoStep[];
  /** Per-step deadline. Default 60 s. */
  stepTimeoutMs?: number;
  /** Keep the action log in this folder instead of a temporary one. */
  keepLogDir?: string;
  /** Stops the demo early (Ctrl-C, or nobody reads its output): it cleans up and resolves with `stopped`. */
  signal?: AbortSignal;
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** The text lines of one event. */
export function formatDemoEvent(event: DemoEvent): string[] {
  switch (event.type) {
    case 'start':
      return [
        `ECPS demo over ${event.network}`,
        '(→ sent, ← received, ✓ a check that held, ⊘ a refusal the stack is meant to make, also a check that held)',
      ];
    case 'step':
      return ['', `[${event.index}/${event.steps}] ${event.title}`];
    case 'line':
      return [`  ${event.text}`];
    case 'end':
      return ['', `demo complete: ${count(event.steps, 'step')}, ${count(event.checks, 'check')} held (${event.refusals} of them expected refusals)`];
    case 'failed':
      return ['', `✗ step ${event.step} failed after ${count(event.checks, 'check')} held: ${event.reason}`];
    case 'stopped':
      return ['', `demo stopped during step ${event.step} after ${count(event.checks, 'check')} held`];
  }
}

/**
 * Runs the demo steps in order and cleans up every node, transport and temporary folder. Resolves with the summary
 * when all steps are done (or the demo was stopped); rejects with the first failure.
 */
export async function runDemo(options: RunDemoOptions = {}): Promise<DemoSummary> {
  const out = options.out ?? ((line: string) => console.log(line));
  const steps = options.steps ?? demoSteps;
  const summary: DemoSummary = { steps: 0, checks: 0, refusals: 0, stopped: false };
  let current = 0;
  const emit = (event: DemoEvent): void => {
    if (options.signal?.aborted && event.type === 'line') return; // an abandoned step keeps quiet
    options.onEvent?.(event);
    for (const line of formatDemoEvent(event)) out(line);
  };
  const network = await createDemoNetwork(options);
  const nodes: EcpsNode[] = [];
  const transports: Transport[] = [];
  const dirs: string[] = [];
  const ctx: DemoContext = {
    log: (text) => emit({ type: 'line', step: current, text }),
    held: (actor, text) => {
      summary.checks++;
      emit({ type: 'line', step: current, text: `${actor.padEnd(10)} ✓ ${text}`, check: 'held' });
    },
    refused: (actor, text) => {
      summary.checks++;
      summary.refusals++;
      emit({ type: 'line', step: current, text: `${actor.padEnd(10)} ⊘ expected refusal: ${text}`, check: 'refused' });
    },
    createNode: async (id, nodeOptions = {}) => {
      const node = await createNode({ profile: network.profile, ...nodeOptions, id, transport: network.transportFor(id) });
      nodes.push(node);
      return node;
    },
    transportFor: (nodeId) => {
      const transport = network.transportFor(nodeId);
      transports.push(transport);
      return transport;
    },
    tempDir: (name) => {
      const dir = mkdtempSync(join(tmpdir(), `ecps-demo-${name}-`));
      dirs.push(dir);
      return dir;
    },
    ...(network.brokerUrl ? { brokerUrl: network.brokerUrl } : {}),
    ...(options.keepLogDir !== undefined ? { keepLogDir: options.keepLogDir } : {}),
    state: new Map(),
  };
  emit({
    type: 'start',
    network: network.description,
    ...(network.brokerUrl ? { brokerUrl: network.brokerUrl } : {}),
    embeddedBroker: network.embedded,
    steps: steps.length,
  });
  try {
    for (const [i, step] of steps.entries()) {
      if (options.signal?.aborted) break;
      current = i + 1;
      emit({ type: 'step', index: current, steps: steps.length, title: step.title });
      try {
        await untilDone(step.run(ctx), options.stepTimeoutMs ?? step.timeoutMs ?? 60_000, step.title, options.signal);
      } catch (error) {
        emit({ type: 'failed', step: current, title: step.title, checks: summary.checks, reason: describeError(error) });
        throw error;
      }
      if (!options.signal?.aborted) summary.steps++;
    }
    if (options.signal?.aborted) {
      emit({ type: 'stopped', step: current, checks: summary.checks });
      summary.stopped = true;
    } else emit({ type: 'end', steps: summary.steps, checks: summary.checks, refusals: summary.refusals });
    return summary;
  } finally {
    for (const node of nodes.reverse()) await node.close().catch(() => undefined);
    for (const transport of transports) await transport.close().catch(() => undefined);
    await network.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves when `work` does, or at once when `signal` aborts (the step is abandoned); rejects past the deadline. */
function untilDone(work: Promise<void>, ms: number, what: string, signal: AbortSignal | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`demo step "${what}" did not finish within ${ms} ms`)), ms);
  });
  const stopped = new Promise<void>((resolve) => {
    onAbort = () => {
      work.catch(() => undefined); // abandoned: its failure (its nodes are being closed) is of no interest
      resolve();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, deadline, stopped]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  });
}
