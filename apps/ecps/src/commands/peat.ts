// SPDX-License-Identifier: Apache-2.0
// `ecps peat node`: one Peat node against an MQTT broker, printing its state transitions; `ecps peat sim`: the
// hierarchical replication simulation of @ecps/peat-hierarchy (real replicas on the in-memory network), with progress on
// stderr and a summary table (or JSON) on stdout.
import type { Capability } from '@ecps/peat';
import type { ReplicationSimResult } from '@ecps/peat-hierarchy';
import { decimal, integer, jsonOption, untilAborted, usageError } from '../kit/index';
import type { EcpsCommand, Output } from '../kit/index';

/** One state transition of a Peat node; `cell`, `leader` and `role` once it is operational. */
export interface PeatTransition {
  readonly label: string;
  readonly from: string;
  readonly to: string;
  readonly cell?: string;
  readonly leader?: string;
  readonly role?: string;
}

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
  readonly onTransition: (transition: PeatTransition) => void;
}

/** The text line of a transition (`T7 forming → operational (cell …, leader n3, role Leader)`). */
export function formatTransition(t: PeatTransition): string {
  return `${t.label} ${t.from} → ${t.to}${t.cell !== undefined ? ` (cell ${t.cell}, leader ${t.leader}, role ${t.role})` : ''}`;
}

/**
 * Capabilities from `<TYPE>=<confidence>` specs (confidence 0 to 1, default 0.9).
 * @throws CliError `INVALID_ARGUMENT` (a usage error) for anything else.
 */
export async function parseCapabilities(id: string, specs: readonly string[]): Promise<Capability[]> {
  const { CapabilityType } = await import('@ecps/peat');
  return specs.map((spec, i) => {
    const [name, conf] = spec.split('=');
    const type = (CapabilityType as Record<string, number>)[(name ?? '').toUpperCase()];
    const confidence = Number(conf ?? '0.9');
    if (type === undefined || !(confidence >= 0 && confidence <= 1)) {
      throw usageError(`capability ${JSON.stringify(spec)} is not <TYPE>=<confidence>`, `TYPE is one of ${Object.keys(CapabilityType).filter((k) => Number.isNaN(Number(k))).join(', ')}; confidence from 0 to 1`);
    }
    return { id: `${id}-${i}`, name: name!.toLowerCase(), capability_type: type, confidence, metadata: {}, registered_at: Date.now() };
  });
}

/**
 * Runs one Peat node against an MQTT broker until `signal` aborts, reporting each state transition.
 * @throws CliError `INVALID_ARGUMENT` for a capability that is not `<TYPE>=<confidence>`; TransportError `UNAVAILABLE`
 *   when the broker cannot be reached (within about 2 s).
 */
export async function runPeatNode(options: PeatNodeOptions, signal: AbortSignal): Promise<void> {
  const capabilities = await parseCapabilities(options.id, options.capabilities);
  const [{ systemClock }, { NodeOrchestrator, transportMedium }, { mqttTransport }, { probeBroker }] = await Promise.all([
    import('@ecps/core'),
    import('@ecps/peat-node'),
    import('@ecps/transport-mqtt'),
    import('../broker-probe'),
  ]);
  await probeBroker(options.broker);
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
    onTransition: (t) =>
      options.onTransition({
        label: t.label,
        from: t.from,
        to: t.to,
        ...(t.to === 'operational' ? { cell: String(node.cellId), leader: String(node.leader?.node_id), role: String(node.role) } : {}),
      }),
  });
  node.start();
  try {
    await untilAborted(signal);
  } finally {
    node.stop();
    await transport.close();
  }
}

/** Progress of a simulation on stderr: a bar redrawn in place on a terminal, else only the final line. */
function progressBar(out: Output, label: string): (done: number, total: number) => void {
  return (done, total) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
    else if (done === total) out.message(line);
  };
}

const ms = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(1));

/** The summary table of `ecps peat sim`: counts per round, links, hop latencies (simulated ms) and the partition. */
export function simTable(rows: readonly ReplicationSimResult[]): string {
  const head = ['mode', 'nodes', 'rounds', 'ops/round', 'bytes/round', 'messages/round', 'links', 'node→squad p50/p99', 'squad→platoon p50/p99', 'platoon→company p50/p99', 'partition'];
  const body = rows.map((r) => [
    r.hierarchical ? 'hierarchical' : 'full replication',
    String(r.nodes),
    String(r.rounds),
    r.opsPerRound.toFixed(1),
    r.bytesPerRound.toFixed(0),
    r.messagesPerRound.toFixed(1),
    String(r.links),
    ...[r.latency.nodeToSquad, r.latency.squadToPlatoon, r.latency.platoonToCompany].map((l) => `${ms(l.p50)}/${ms(l.p99)} ms`),
    r.partition
      ? `${r.partition.staleSummariesDuring} stale, ${r.partition.nodesMissingCommandDuring} missing; converged ${r.partition.convergedAfterMs} ms after heal`
      : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: readonly string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

/** `ecps peat node`, `ecps peat sim`. */
const peat: EcpsCommand = (program, ctx) => {
  const group = program.command('peat').description('Peat capability composition: run a node, simulate a fleet');
  group
    .command('node')
    .description('run one Peat node against an MQTT broker until Ctrl-C, printing its state transitions')
    .requiredOption('--broker <url>', 'MQTT broker URL (e.g. mqtt://127.0.0.1:1883; `ecps broker` starts one)')
    .requiredOption('--id <node-id>', 'this node id')
    .option('--mesh <id>', 'mesh id (topic segment)', 'default')
    .option('--lat <deg>', 'latitude in degrees, -90 to 90', decimal({ min: -90, max: 90 }), 48.8566)
    .option('--lon <deg>', 'longitude in degrees, -180 to 180', decimal({ min: -180, max: 180 }), 2.3522)
    .option('--cap <TYPE=confidence...>', 'capabilities, e.g. COMMUNICATION=0.9 SENSOR=0.85', ['COMMUNICATION=0.9', 'SENSOR=0.85'])
    .option('--no-operator', 'no bound operator (the node cannot lead without approval)')
    .addOption(jsonOption())
    .action(async (opts: { broker: string; id: string; mesh: string; lat: number; lon: number; cap: string[]; operator: boolean; json?: boolean }) => {
      await runPeatNode(
        {
          broker: opts.broker,
          id: opts.id,
          mesh: opts.mesh,
          latitude: opts.lat,
          longitude: opts.lon,
          capabilities: opts.cap,
          operator: opts.operator,
          onTransition: (t) => (opts.json ? ctx.out.json(t) : ctx.out.line(formatTransition(t))),
        },
        AbortSignal.any([ctx.interrupted, ctx.out.closed]),
      );
    });
  group
    .command('sim')
    .description('simulate a fleet (a company of platoons of 3 squads of 8) and count replication ops and bytes per round')
    .option('--nodes <n>', 'fleet size (squads of 8, platoons of 3 squads; the last ones may be short)', integer({ min: 1 }), 24)
    .option('--rounds <n>', 'measured rounds (one per simulated second)', integer({ min: 1 }), 4)
    .option('--partition <rounds>', 'then cut half of the platoons off the company for this many rounds, heal and time convergence (48 nodes or more)', integer({ min: 1 }))
    .option('--baseline', 'also run full replication of the same workload (every document to every node)')
    .addOption(jsonOption())
    .action(async (opts: { nodes: number; rounds: number; partition?: number; baseline?: boolean; json?: boolean }) => {
      if (opts.partition !== undefined && opts.nodes <= 24) throw usageError('--partition needs more than one platoon', 'use --nodes 48 or more');
      const { simulateReplication } = await import('@ecps/peat-hierarchy');
      const results = [
        await simulateReplication({
          nodes: opts.nodes,
          rounds: opts.rounds,
          ...(opts.partition !== undefined ? { partitionRounds: opts.partition } : {}),
          onProgress: progressBar(ctx.out, `hierarchical ${opts.nodes}`),
        }),
      ];
      if (opts.baseline) results.push(await simulateReplication({ nodes: opts.nodes, rounds: opts.rounds, hierarchical: false, onProgress: progressBar(ctx.out, `full ${opts.nodes}`) }));
      if (opts.json) ctx.out.json(results);
      else ctx.out.line(simTable(results));
    });
};

export default peat;
