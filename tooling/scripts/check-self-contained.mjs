#!/usr/bin/env node
// Fails when a tracked file outside docs/ mentions a path above the repository root (a sibling checkout of the specs,
// design notes or test vectors, or the environment variable that used to point at one): a fresh clone has no such
// folder, so anything that reads or recommends it breaks for every user. Prints each offending file:line.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Each pattern is built from pieces so that this file does not match itself (and `git grep` does not list it).
const forbidden = [
  new RegExp(['\\.\\./', 'shared\\b'].join('')), // the sibling folder, at any depth
  new RegExp(['\\bshared/', '(spec|vectors|design)\\b'].join('')), // its subfolders, named without the dots
  new RegExp(['ECPS_', 'VECTORS_DIR'].join('')),
  new RegExp(['/work/', '(shared|wt|main|helpers)\\b'].join('')), // this machine's layout
];

const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f !== '' && !f.startsWith('docs/') && f !== 'pnpm-lock.yaml');

const offences = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch {
    continue; // deleted in the working tree but still in the index
  }
  if (text.includes('\0')) continue; // binary
  text.split('\n').forEach((line, i) => {
    if (forbidden.some((re) => re.test(line))) offences.push(`${file}:${i + 1}: ${line.trim().slice(0, 160)}`);
  });
}

if (offences.length > 0) {
  console.error(`${offences.length} line(s) outside docs/ mention a path above the repository root:`);
  for (const o of offences) console.error(`  ${o}`);
  console.error('Keep what the project needs inside the repository and describe formats under docs/wire/.');
  process.exit(1);
}
console.log(`self-contained: ${files.length} tracked files outside docs/ name no path above the repository root`);
