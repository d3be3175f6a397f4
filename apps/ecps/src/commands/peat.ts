// SPDX-License-Identifier: Apache-2.0
// `ecps peat sim --nodes N`: the hierarchical replication simulation of @ecps/peat-hierarchy (real replicas on the
// in-memory network), with a progress bar on stderr and a summary table (or JSON) on stdout.
import type { Command } from 'commander';
import { systemClock } from '@ecps/core';
import { CapabilityType } from '@ecps/peat';
import type { Capability } from '@ecps/peat';
import { simulateReplication } from '@ecps/peat-hierarchy';
import type { ReplicationSimResult } from '@ecps/peat-hierarchy';
import { NodeOrchestrator, transportMedium } from '@ecps/peat-node';
import { mqttTransport } from '@ecps/transport-mqtt';

export interface PeatNodeOptions {
  readonly broker: string;
  readonly id: string;
  readonly mesh: string;
  readonly latitude: number;
  readonly longitude: number;
  /** Capability type names with a confidence, e.g. `COMMUNICATION=0.9`. */
  readonly capabilities: readonly string[];
  /** Bind a qualifying operator (E6 Supervisor) so the node may lead and oversee communications. */
  readonly operator: boolean;
  readonly out: (line: string) => void;
}

/**
 * Runs one Peat node against an MQTT broker until `signal` aborts, printing each state transition.
 * @throws Error for a capability that is not `<TYPE>=<confidence>`.
 */
export async function runPeatNode(options: PeatNodeOptions, signal: AbortSignal): Promise<void> {
  const capabilities: Capability[] = options.capabilities.map((spec, i) => {
    const [name, conf] = spec.split('=');
    const type = (CapabilityType as Record<string, number>)[(name ?? '').toUpperCase()];
    const confidence = Number(conf ?? '0.9');
    if (type === undefined || !(confidence >= 0 && confidence <= 1)) throw new Error(`capability ${JSON.stringify(spec)} is not <TYPE>=<confidence>`);
    return { id: `${options.id}-${i}`, name: name!.toLowerCase(), capability_type: type, confidence, metadata: {}, registered_at: Date.now() };
  });
  const transport = mqttTransport({ url: options.broker, nodeId: options.id, protocolVersion: 4, connectTimeoutMs: 10_000 });
  await transport.connect();
  const node = new NodeOrchestrator({
    clock: systemClock,
    medium: transportMedium({ meshId: options.mesh, transportFor: () => transport }),
    position: { latitude: options.latitude, longitude: options.longitude, altitude: 0 },
    config: {
      id: options.id,
      platform_type: 'ugv',
      capabilities,
      comm_range_m: 1000,
      max_speed_mps: 5,
      created_at: Date.now(),
      operator_binding: options.operator
        ? { operators: [{ id: `op-${options.id}`, rank: 'E6', authority_level: 'Supervisor', mos: '19D', cognitive_load: 0.3, fatigue: 0.2, effectiveness: 0.9 }], platform_ids: [options.id], binding_type: 'direct', bound_at: Date.now() }
        : null,
    },
    onTransition: (t) => options.out(`${t.label} ${t.from} → ${t.to}${t.to === 'operational' ? ` (cell ${node.cellId}, leader ${node.leader?.node_id}, role ${node.role})` : ''}`),
  });
  node.start();
  try {
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  } finally {
    node.stop();
    await transport.close();
  }
}

interface SimOptions {
  nodes: string;
  rounds: string;
  baseline?: boolean;
  json?: boolean;
}

function progressBar(label: string): (done: number, total: number) => void {
  return (done, total) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
    else if (done === total) process.stderr.write(`${line}\n`);
  };
}

function table(rows: readonly ReplicationSimResult[]): string {
  const head = ['mode', 'nodes', 'rounds', 'ops/round', 'bytes/round', 'messages/round'];
  const body = rows.map((r) => [r.hierarchical ? 'hierarchical' : 'full replication', String(r.nodes), String(r.rounds), r.opsPerRound.toFixed(1), r.bytesPerRound.toFixed(0), r.messagesPerRound.toFixed(1)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

export function registerPeat(program: Command): void {
  const peat = program.command('peat').description('Peat capability composition (see `ecps peat node --help`, `ecps peat sim --help`)');
  peat
    .command('node')
    .description('run one Peat node against an MQTT broker until Ctrl-C, printing its state transitions')
    .requiredOption('--broker <url>', 'MQTT broker URL')
    .requiredOption('--id <node-id>', 'this node id')
    .option('--mesh <id>', 'mesh id (topic segment)', 'default')
    .option('--lat <deg>', 'latitude', '48.8566')
    .option('--lon <deg>', 'longitude', '2.3522')
    .option('--cap <TYPE=confidence...>', 'capabilities, e.g. COMMUNICATION=0.9 SENSOR=0.85', ['COMMUNICATION=0.9', 'SENSOR=0.85'])
    .option('--no-operator', 'no bound operator (the node cannot lead without approval)')
    .action(async (opts: { broker: string; id: string; mesh: string; lat: string; lon: string; cap: string[]; operator: boolean }) => {
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.once('SIGINT', onSigint);
      try {
        await runPeatNode(
          { broker: opts.broker, id: opts.id, mesh: opts.mesh, latitude: Number(opts.lat), longitude: Number(opts.lon), capabilities: opts.cap, operator: opts.operator, out: (l) => process.stdout.write(`${l}\n`) },
          controller.signal,
        );
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
  peat
    .command('sim')
    .description('simulate a fleet (platoons of 3 squads of 8) and count replication ops and bytes per round')
    .option('--nodes <n>', 'fleet size, rounded up to a multiple of 24', '24')
    .option('--rounds <n>', 'measured rounds', '4')
    .option('--baseline', 'also run full replication of the same workload')
    .option('--json', 'print the results as JSON')
    .action(async (opts: SimOptions) => {
      const nodes = Number(opts.nodes);
      const rounds = Number(opts.rounds);
      if (!(Number.isInteger(nodes) && nodes >= 1) || !(Number.isInteger(rounds) && rounds >= 1)) {
        process.stderr.write('ecps peat sim: --nodes and --rounds must be positive integers\n');
        process.exitCode = 2;
        return;
      }
      const platoons = Math.ceil(nodes / 24);
      const results = [await simulateReplication({ platoons, rounds, onProgress: progressBar(`hierarchical ${platoons * 24}`) })];
      if (opts.baseline) results.push(await simulateReplication({ platoons, rounds, hierarchical: false, onProgress: progressBar(`full ${platoons * 24}`) }));
      process.stdout.write(opts.json ? `${JSON.stringify(results)}\n` : `${table(results)}\n`);
    });
}
