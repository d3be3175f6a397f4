#!/usr/bin/env node
// `pnpm fuzz`: runs every fuzz target of the repository (test files named `*.fuzz.test.ts`) with a long budget,
// one package at a time, then writes docs/reliability.md from the per-target reports (tooling/scripts/fuzz-report.mjs).
//
//   pnpm fuzz                       every target, ECPS_FUZZ_MS=60000 each unless set
//   pnpm fuzz -- ltp eaplog         only targets whose path contains one of the words
//   ECPS_FUZZ_SEED=7 pnpm fuzz      another seed (default: a fixed one per target)
//
// Exits non-zero when a target found a crash or an untyped exception (the report is written either way).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReliabilityReport } from './fuzz-report.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SKIP = new Set(['node_modules', 'dist', '.turbo', '.git', 'coverage']);
const filters = process.argv.slice(2).filter((a) => a !== '--');
const budgetMs = Number(process.env.ECPS_FUZZ_MS ?? 60_000);

/** Every `*.fuzz.test.ts` under the workspace folders, grouped by the package that holds it. */
export function findFuzzTargets(base = root) {
  const byPackage = new Map();
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (SKIP.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.fuzz.test.ts')) {
        let pkg = dirname(path);
        while (!existsSync(join(pkg, 'package.json'))) pkg = dirname(pkg);
        byPackage.set(pkg, [...(byPackage.get(pkg) ?? []), path]);
      }
    }
  };
  for (const group of ['packages', 'apps', 'tooling', 'bench']) if (existsSync(join(base, group))) walk(join(base, group));
  return byPackage;
}

function main() {
  const require = createRequire(import.meta.url);
  const jestBin = join(dirname(require.resolve('jest/package.json')), 'bin', 'jest.js');
  const reportDir = mkdtempSync(join(tmpdir(), 'ecps-fuzz-'));
  const started = Date.now();
  let failed = false;
  try {
    for (const [pkg, files] of findFuzzTargets()) {
      const selected = files.filter((f) => filters.length === 0 || filters.some((w) => relative(root, f).includes(w)));
      if (selected.length === 0) continue;
      const name = relative(root, pkg);
      console.log(`› ${name}: ${selected.map((f) => relative(pkg, f)).join(', ')} (${budgetMs / 1000} s per target)`);
      const result = spawnSync(
        process.execPath,
        [
          '--experimental-vm-modules',
          '--no-warnings=ExperimentalWarning',
          jestBin,
          '--runInBand',
          `--testTimeout=${budgetMs * 3 + 60_000}`,
          ...selected.map((f) => relative(pkg, f)),
        ],
        {
          cwd: pkg,
          stdio: 'inherit',
          env: { ...process.env, ECPS_FUZZ_MS: String(budgetMs), ECPS_FUZZ_REPORT_DIR: join(reportDir, name.replaceAll('/', '__')) },
        },
      );
      if (result.status !== 0) failed = true;
    }
    const summary = writeReliabilityReport({ root, reportDir, budgetMs, elapsedMs: Date.now() - started, partial: filters.length > 0 });
    console.log(`\n${summary}`);
  } finally {
    rmSync(reportDir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
