#!/usr/bin/env node
// Runs Jest in ESM mode for the package in the current directory and leaves test-results.json
// for the summary line of the test command. Jest's transform cache lives in node_modules/.cache/jest rather than
// under TMPDIR: the test command gives the suites a private TMPDIR and counts whatever is left in it as a leak.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const jestBin = join(dirname(require.resolve('jest/package.json')), 'bin', 'jest.js');
const args = [
  '--experimental-vm-modules',
  '--no-warnings=ExperimentalWarning',
  jestBin,
  '--passWithNoTests',
  '--json',
  '--outputFile=test-results.json',
  `--cacheDirectory=${join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules', '.cache', 'jest')}`,
  ...process.argv.slice(2),
];
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
