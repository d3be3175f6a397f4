// SPDX-License-Identifier: Apache-2.0
import { InvalidArgumentError, type Command } from 'commander';
import { runDemo } from '../demo/run-demo';
import type { DemoTransport } from '../demo/network';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the main job: nodes of every layer talking over an embedded network')
    .option('--transport <kind>', 'mqtt (through a broker) or dds (Cyclone DDS on loopback)', parseTransport, 'mqtt')
    .option('--broker <url>', 'use an external MQTT broker instead of the embedded one')
    .option('--domain <id>', 'the DDS domain id (with --transport dds)', parseDomain)
    .action(async (opts: { transport: DemoTransport; broker?: string; domain?: number }) => {
      await runDemo({
        transport: opts.transport,
        ...(opts.broker ? { broker: opts.broker } : {}),
        ...(opts.domain !== undefined ? { domainId: opts.domain } : {}),
      });
    });
}

function parseTransport(value: string): DemoTransport {
  if (value !== 'mqtt' && value !== 'dds') throw new InvalidArgumentError('expected mqtt or dds');
  return value;
}

function parseDomain(value: string): number {
  const id = Number(value);
  if (!Number.isInteger(id) || id < 0 || id > 232) throw new InvalidArgumentError('expected a DDS domain id, 0 to 232');
  return id;
}
