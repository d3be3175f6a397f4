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
