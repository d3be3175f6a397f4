// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FuzzInvariantError, loadCorpus, runFuzzTarget } from './fuzz';

class Refusal extends Error {}
const seeds = [Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)];

describe('runFuzzTarget', () => {
  it('reports iterations and no failure for a target that only refuses with expected errors', async () => {
    const report = await runFuzzTarget(
      { name: 'ok', seeds, isExpected: (e) => e instanceof Refusal, run: (b) => { if (b.length < 4) throw new Refusal(); } },
      { budgetMs: 1000, seed: 1 },
    );
    expect(report).toMatchObject({ crashes: 0, untypedExceptions: 0 });
    // a count, not a speed: at load 40 on two cores a 200 ms budget ran only 2 iterations
    expect(report.iterations).toBeGreaterThan(1);
  });

  it('finds an untyped exception that only a mutation of the seed reaches, and shrinks it', async () => {
    const report = await runFuzzTarget(
      {
        name: 'untyped',
        seeds,
        isExpected: (e) => e instanceof Refusal,
        run: (b) => { if (b[0] === 1 && b.length > 8) throw new TypeError('length not checked'); },
      },
      { budgetMs: 2000, seed: 2 },
    );
    expect(report.untypedExceptions).toBe(1);
    expect(report.failure?.error).toContain('TypeError');
  });

  it('counts a broken invariant as a crash', async () => {
    const report = await runFuzzTarget(
      { name: 'crash', seeds, isExpected: () => true, run: (b) => { if (b.length === 0) throw new FuzzInvariantError('empty'); } },
      { budgetMs: 2000, seed: 3 },
    );
    expect(report).toMatchObject({ crashes: 1, untypedExceptions: 0 });
  });

  it('loads a corpus folder in name order and skips its README', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-corpus-'));
    try {
      mkdirSync(join(dir, 'c'));
      writeFileSync(join(dir, 'c', 'b'), Uint8Array.of(2));
      writeFileSync(join(dir, 'c', 'a'), Uint8Array.of(1));
      writeFileSync(join(dir, 'c', 'README.md'), 'x');
      expect(loadCorpus(join(dir, 'c')).map((b) => b[0])).toEqual([1, 2]);
      expect(loadCorpus(join(dir, 'missing'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
