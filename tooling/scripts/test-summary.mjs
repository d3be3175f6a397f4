#!/usr/bin/env node
// Sums the Jest JSON results of every package into the one closing line of the test command.
// With `--temp-dir DIR` (the TMPDIR the suites ran with), every entry left in DIR is listed and counts as a failure:
// tests remove what they create. With `--partial` (a filtered run), packages without results were not run and do not count.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { 'temp-dir': { type: 'string' }, partial: { type: 'boolean' } } });

let passed = 0, failed = 0, skipped = 0;
const broken = [];
for (const group of ['packages', 'apps', 'tooling']) {
  if (!existsSync(group)) continue;
  for (const name of readdirSync(group)) scan(join(group, name));
}
scan('bench');

function scan(dir) {
  const file = join(dir, 'test-results.json');
  const pkgFile = join(dir, 'package.json');
  if (!existsSync(pkgFile)) return;
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  if (!pkg.scripts?.test) return;
  if (!existsSync(file)) {
    if (args.partial) return; // filtered out
    broken.push(pkg.name);
    failed += 1; // a suite that produced no results at all counts as a failure
    return;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
  skipped += r.numPendingTests + r.numTodoTests;
}
if (broken.length) console.log(`no test results from: ${broken.join(', ')}`);
const leaked = args['temp-dir'] ? readdirSync(args['temp-dir']).sort() : [];
if (leaked.length) {
  console.log(`left in the tests' temp folder (each counts as a failure): ${leaked.join(', ')}`);
  failed += leaked.length;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
