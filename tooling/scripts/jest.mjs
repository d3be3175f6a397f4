#!/usr/bin/env node
// Runs Jest in ESM mode for the package in the current directory and leaves test-results.json
// for the summary line of the test command. Jest's transform cache lives in node_modules/.cache/jest rather than
// under TMPDIR: the test command gives the suites a private TMPDIR and counts whatever is left in it as a leak.
//
// Jest never exits while something a test started (a timer, a socket) is still open, and once hung it blocks the
// whole test command until CI gives up on it (a failed Raft start once cost a CI run its 90 minutes). So a run that
// has written its results but not exited within EXIT_GRACE_MS is stopped and fails, naming the cause; so does a run
// longer than RUN_LIMIT_MS.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXIT_GRACE_MS = 30_000;
const RUN_LIMIT_MS = 20 * 60_000;

const require = createRequire(import.meta.url);
const jestBin = join(dirname(require.resolve('jest/package.json')), 'bin', 'jest.js');
const resultsFile = resolve('test-results.json');
const args = [
  '--experimental-vm-modules',
  '--no-warnings=ExperimentalWarning',
  jestBin,
  '--passWithNoTests',
  '--json',
  `--outputFile=${resultsFile}`,
  `--cacheDirectory=${join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules', '.cache', 'jest')}`,
  ...process.argv.slice(2),
];

const startedAt = Date.now();
// its own process group, so that stopping it also stops its workers
const child = spawn(process.execPath, args, { stdio: 'inherit', detached: true });
let stoppedFor;
const stop = (reason) => {
  stoppedFor = reason;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
};
const resultsWrittenAt = () => {
  try {
    const { mtimeMs } = statSync(resultsFile);
    return mtimeMs >= startedAt ? mtimeMs : undefined;
  } catch {
    return undefined;
  }
};
const watchdog = setInterval(() => {
  const writtenAt = resultsWrittenAt();
  if (writtenAt !== undefined && Date.now() - writtenAt > EXIT_GRACE_MS) {
    stop(`Jest wrote its results but did not exit within ${EXIT_GRACE_MS / 1000} s: a test left something open (find it with --detectOpenHandles)`);
  } else if (Date.now() - startedAt > RUN_LIMIT_MS) {
    stop(`Jest ran longer than ${RUN_LIMIT_MS / 60_000} minutes`);
  }
}, 1_000);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stop(`interrupted (${signal})`));
child.on('exit', (code, signal) => {
  clearInterval(watchdog);
  if (stoppedFor) {
    console.error(`✗ ${process.env.npm_package_name ?? process.cwd()}: ${stoppedFor}; stopped.`);
    process.exit(1);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
