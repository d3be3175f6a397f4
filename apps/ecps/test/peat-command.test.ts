// SPDX-License-Identifier: Apache-2.0
// `ecps peat sim` as the built CLI (stdout data, progress on stderr, --json); `ecps peat node` in process, three nodes
// against a broker forming a cell, and as the CLI against a broker that is not there.
import { describe, expect, it } from '@jest/globals';
import type { PeatTransition } from '../src/commands/peat';
import { ecps } from './run-ecps';

describe('ecps peat sim', () => {
  it('simulates a fleet and prints JSON (hierarchical and baseline) or a table, with a partition that heals', async () => {
    const [json, text] = await Promise.all([
      ecps(['peat', 'sim', '--nodes', '20', '--rounds', '1', '--baseline', '--json']),
      ecps(['peat', 'sim', '--nodes', '48', '--rounds', '1', '--partition', '1']),
    ]);
    expect(json.code).toBe(0);
    const [h, full] = JSON.parse(json.stdout) as { nodes: number; squads: number; hierarchical: boolean; opsPerRound: number }[];
    expect(h).toMatchObject({ nodes: 20, squads: 3, hierarchical: true });
    expect(full).toMatchObject({ nodes: 20, hierarchical: false });
    expect(h!.opsPerRound).toBeLessThanOrEqual(36);
    expect(full!.opsPerRound).toBeGreaterThan(h!.opsPerRound * 10);
    expect(json.stderr).toContain('hierarchical 20 [');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^mode +nodes +rounds +ops\/round +bytes\/round +messages\/round +links +node→squad p50\/p99/);
    // one platoon of 24 cut off: its summary went stale at the company and its 24 nodes missed the command
    expect(text.stdout).toMatch(/hierarchical +48 +1 +\d.* 1 stale, 24 missing; converged \d+ ms after heal/);
  }, 90_000);

  it('refuses a partition of a single platoon', async () => {
    const r = await ecps(['peat', 'sim', '--nodes', '24', '--partition', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--partition needs more than one platoon/);
  });
});

describe('ecps peat node', () => {
  it('three nodes against a broker form a cell and report their transitions', async () => {
    const { startBroker } = await import('@ecps/broker');
    const { formatTransition, runPeatNode } = await import('../src/commands/peat');
    // loaded once before three nodes start at the same time (Jest's ESM loader races on concurrent first imports)
    for (const load of [() => import('@ecps/peat'), () => import('@ecps/peat-node'), () => import('@ecps/transport-mqtt'), () => import('../src/broker-probe')]) await load();
    const broker = await startBroker({ port: 0 });
    const controller = new AbortController();
    const seen = new Map<string, PeatTransition[]>();
    try {
      const runs = ['n1', 'n2', 'n3'].map((id, i) => {
        seen.set(id, []);
        return runPeatNode(
          { broker: broker.url, id, mesh: 'cli-test', latitude: 48.8566 + i * 1e-5, longitude: 2.3522, capabilities: ['COMMUNICATION=0.9', 'SENSOR=0.85'], operator: true, onTransition: (t) => seen.get(id)!.push(t) },
          controller.signal,
        );
      });
      const deadline = Date.now() + 25_000;
      while (![...seen.values()].every((l) => l.some((t) => t.to === 'operational')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      controller.abort();
      await Promise.all(runs);
    } finally {
      controller.abort();
      await broker.close();
    }
    for (const transitions of seen.values()) {
      const lines = transitions.map(formatTransition);
      expect(lines[0]).toBe('T1 init → discovering');
      expect(lines.find((x) => x.includes('→ operational'))).toMatch(/T7 forming → operational \(cell [0-9a-f-]{36}, leader n3, role (Leader|Sensor)\)/);
      expect(lines.at(-1)).toBe('T16 leaving → stopped');
    }
  }, 40_000);

  it('a broker that refuses the connection: exit 1 at once, naming it', async () => {
    const r = await ecps(['peat', 'node', '--broker', 'mqtt://127.0.0.1:1', '--id', 'lonely']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ecps peat node: cannot reach the MQTT broker at mqtt:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  });
});
