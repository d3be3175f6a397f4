#!/usr/bin/env node
// The build step of setup.sh: `turbo run build` with one progress line per package as it starts, so a first run
// (a couple of minutes on two cores) is never silent. Already-built packages are counted, not listed. When the build
// fails, turbo runs once more to print only the failing packages' errors.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' };
const turbo = (args, options) => spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', ...args], { env, encoding: 'utf8', ...options });

// The plan first (fast): how many packages, how many already built.
const plan = JSON.parse(turbo(['--dry=json']).stdout || '{"tasks":[]}');
const tasks = plan.tasks.filter((t) => t.command !== '<NONEXISTENT>');
const todo = tasks.filter((t) => t.cache?.status !== 'HIT').length;
if (todo === 0) {
  console.log(`› build: all ${tasks.length} packages up to date`);
  process.exit(0);
}
console.log(
  `› build: ${todo} of ${tasks.length} packages to build` +
    (todo > 5 ? ' (a first build takes a few minutes on a small machine)' : ''),
);

const started = Date.now();
let n = 0;
const child = spawn('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=hash-only'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
createInterface({ input: child.stdout }).on('line', (line) => {
  // "@ecps/ltp:build: cache miss, executing 1a2b..." is printed when the package starts building
  const match = /^(\S+):build: cache miss/.exec(line);
  if (match) console.log(`  [${++n}/${todo}] ${match[1]} (${Math.round((Date.now() - started) / 1000)} s)`);
});
child.stderr.resume();
child.on('close', (code) => {
  if (code === 0) {
    console.log(`› build: done in ${Math.round((Date.now() - started) / 1000)} s`);
    process.exit(0);
  }
  console.error('› build failed; the errors:');
  turbo(['--output-logs=errors-only'], { stdio: 'inherit' });
  process.exit(code ?? 1);
});
