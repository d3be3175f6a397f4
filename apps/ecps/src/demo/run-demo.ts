// SPDX-License-Identifier: Apache-2.0
// `ecps demo`: the main job, on an embedded default network, narrated line by line.
import type { Transport } from '@ecps/core';
import { createNode, type EcpsNode } from '@ecps/runtime';
import { createDemoNetwork, type DemoNetworkOptions } from './network';
import type { DemoContext, DemoStep } from './step';
import { demoSteps } from './steps/index';

export interface RunDemoOptions extends DemoNetworkOptions {
  /** Where lines go (default: stdout). */
  out?: (line: string) => void;
  /** Steps to run (default: all). */
  steps?: DemoStep[];
  /** Per-step deadline. Default 60 s. */
  stepTimeoutMs?: number;
}

/** Runs every demo step; resolves when all are done, rejects on the first failure (after cleaning up). */
export async function runDemo(options: RunDemoOptions = {}): Promise<void> {
  const out = options.out ?? ((line: string) => console.log(line));
  const network = await createDemoNetwork(options);
  const nodes: EcpsNode[] = [];
  const transports: Transport[] = [];
  const ctx: DemoContext = {
    log: (line) => out(`  ${line}`),
    createNode: async (id, nodeOptions = {}) => {
      // the demo network is MQTT, which only the cloud-fleet profile allows (spec §8)
      const node = await createNode({ profile: 'cloud-fleet', ...nodeOptions, id, transport: network.transportFor(id) });
      nodes.push(node);
      return node;
    },
    transportFor: (nodeId) => {
      const transport = network.transportFor(nodeId);
      transports.push(transport);
      return transport;
    },
    ...(network.brokerUrl ? { brokerUrl: network.brokerUrl } : {}),
    state: new Map(),
  };
  out(`ECPS demo over ${network.description}`);
  try {
    const steps = options.steps ?? demoSteps;
    for (const [i, step] of steps.entries()) {
      out(`\n[${i + 1}/${steps.length}] ${step.title}`);
      await withDeadline(step.run(ctx), options.stepTimeoutMs ?? 60_000, step.title);
    }
    out('\ndemo complete');
  } finally {
    for (const node of nodes.reverse()) await node.close().catch(() => undefined);
    for (const transport of transports) await transport.close().catch(() => undefined);
    await network.close();
  }
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`demo step "${what}" did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
