// SPDX-License-Identifier: Apache-2.0
// `ecps peat sim --nodes N`: the hierarchical replication simulation of @ecps/peat-hierarchy (real replicas on the
// in-memory network), with a progress bar on stderr and a summary table (or JSON) on stdout.
import type { Command } from 'commander';
import { simulateReplication } from '@ecps/peat-hierarchy';
import type { ReplicationSimResult } from '@ecps/peat-hierarchy';

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
  const peat = program.command('peat').description('Peat capability composition (see `ecps peat sim --help`)');
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
