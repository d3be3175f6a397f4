// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Command } from 'commander';
import { registerPeat } from '../src/commands/peat';

async function ecps(...args: string[]): Promise<{ out: string; err: string; code: number | undefined }> {
  const program = new Command('ecps').enablePositionalOptions().exitOverride();
  registerPeat(program);
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  const code = process.exitCode as number | undefined;
  process.exitCode = undefined;
  return { out, err, code };
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('ecps peat sim', () => {
  it('simulates 24 nodes and prints JSON (hierarchical and baseline) or a table', async () => {
    const json = await ecps('peat', 'sim', '--nodes', '20', '--rounds', '1', '--baseline', '--json');
    const [h, full] = JSON.parse(json.out) as { nodes: number; hierarchical: boolean; opsPerRound: number }[];
    expect(h).toMatchObject({ nodes: 24, hierarchical: true });
    expect(full).toMatchObject({ nodes: 24, hierarchical: false });
    expect(h!.opsPerRound).toBeLessThanOrEqual(36);
    expect(full!.opsPerRound).toBeGreaterThan(h!.opsPerRound * 10);
    expect(json.err).toContain('hierarchical 24 [');
    const text = await ecps('peat', 'sim', '--rounds', '1');
    expect(text.out).toMatch(/^mode +nodes +rounds +ops\/round/);
    expect(text.out).toMatch(/hierarchical +24 +1 +\d/);
  }, 60_000);

  it('refuses a bad size with exit code 2', async () => {
    expect((await ecps('peat', 'sim', '--nodes', 'many')).code).toBe(2);
  });
});

describe('ecps peat node', () => {
  it('three nodes against the embedded broker form a cell and print their transitions', async () => {
    const { startBroker } = await import('@ecps/broker');
    const { runPeatNode } = await import('../src/commands/peat');
    const broker = await startBroker({ port: 0 });
    const controller = new AbortController();
    const lines = new Map<string, string[]>();
    try {
      const runs = ['n1', 'n2', 'n3'].map((id, i) => {
        lines.set(id, []);
        return runPeatNode(
          { broker: broker.url, id, mesh: 'cli-test', latitude: 48.8566 + i * 1e-5, longitude: 2.3522, capabilities: ['COMMUNICATION=0.9', 'SENSOR=0.85'], operator: true, out: (l) => lines.get(id)!.push(l) },
          controller.signal,
        );
      });
      const deadline = Date.now() + 25_000;
      while (![...lines.values()].every((l) => l.some((x) => x.includes('→ operational'))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      controller.abort();
      await Promise.all(runs);
    } finally {
      controller.abort();
      await broker.close();
    }
    for (const l of lines.values()) {
      expect(l[0]).toBe('T1 init → discovering');
      expect(l.find((x) => x.includes('→ operational'))).toMatch(/T7 forming → operational \(cell [0-9a-f-]{36}, leader n3, role (Leader|Sensor)\)/);
      expect(l.at(-1)).toBe('T16 leaving → stopped');
    }
  }, 40_000);

  it('refuses a malformed capability', async () => {
    const { runPeatNode } = await import('../src/commands/peat');
    await expect(runPeatNode({ broker: 'mqtt://127.0.0.1:1', id: 'x', mesh: 'm', latitude: 0, longitude: 0, capabilities: ['WARP=2'], operator: false, out: () => undefined }, new AbortController().signal)).rejects.toThrow(/not <TYPE>=<confidence>/);
  });
});
