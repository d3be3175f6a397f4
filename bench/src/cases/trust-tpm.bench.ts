// SPDX-License-Identifier: Apache-2.0
// TPM signing through @ecps/trust-tpm's TypeScript command marshaller against the other way to drive a TPM from
// Node, one tpm2-tools subprocess per operation (tpm2_sign with a persistent key, so nothing has to be reloaded or
// flushed between calls). Each side has its own swtpm: a simulator serves one connection at a time.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TpmKeyProvider, tcpTransport } from '@ecps/trust-tpm';
import { startSwtpm, swtpmAvailable, type SwtpmHandle } from '@ecps/testkit/launchers';
import { asyncOpsPerSecond, type BenchCase } from '../harness';

const run = promisify(execFile);
const KIB = new Uint8Array(randomBytes(1024));

let ours: SwtpmHandle | undefined;
let theirs: SwtpmHandle | undefined;
let tpm: TpmKeyProvider | undefined;
let dir: string | undefined;
let env: NodeJS.ProcessEnv = {};

async function start(): Promise<void> {
  ours = await startSwtpm();
  tpm = await TpmKeyProvider.open({ transport: tcpTransport({ port: ours.port }) });
  await tpm.generateKey('bench', 'ecdsa-p256');

  theirs = await startSwtpm();
  dir = mkdtempSync(join(tmpdir(), 'ecps-bench-tpm2-'));
  env = { ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${theirs.port}` };
  const tool = (name: string, ...args: string[]) => {
    execFileSync(name, ['-Q', ...args], { env, cwd: dir, stdio: 'ignore' });
    execFileSync('tpm2_flushcontext', ['-t'], { env, cwd: dir, stdio: 'ignore' }); // no resource manager
  };
  tool('tpm2_createprimary', '-C', 'o', '-g', 'sha256', '-G', 'ecc256', '-c', 'primary.ctx');
  tool('tpm2_create', '-C', 'primary.ctx', '-G', 'ecc256:ecdsa-sha256', '-u', 'key.pub', '-r', 'key.priv');
  execFileSync('tpm2_load', ['-Q', '-C', 'primary.ctx', '-u', 'key.pub', '-r', 'key.priv', '-c', 'key.ctx'], { env, cwd: dir, stdio: 'ignore' });
  tool('tpm2_evictcontrol', '-C', 'o', '-c', 'key.ctx', '0x81000010');
  writeFileSync(join(dir, 'data'), KIB);
}

async function stopAll(): Promise<void> {
  await tpm?.close();
  await ours?.stop();
  await theirs?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  tpm = ours = theirs = dir = undefined;
}

const tpmSign: BenchCase = {
  name: 'trust-tpm: swtpm ECDSA P-256 signing of 1 KiB via the TypeScript marshaller (vs a tpm2-tools tpm2_sign subprocess per signature)',
  unit: 'ops/s',
  higherIsBetter: true,
  repetitions: 3,
  async setup() {
    if (!swtpmAvailable()) throw new Error('swtpm is not installed (apt-get install swtpm)');
    try {
      execFileSync('tpm2_sign', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('tpm2-tools is not installed (apt-get install tpm2-tools)');
    }
    try {
      await start();
    } catch (error) {
      await stopAll(); // the runner calls teardown only after a successful setup
      throw error;
    }
  },
  teardown: () => stopAll(),
  ours: () => asyncOpsPerSecond(() => tpm!.sign('bench', KIB), 1000),
  baseline: () =>
    asyncOpsPerSecond(() => run('tpm2_sign', ['-Q', '-c', '0x81000010', '-g', 'sha256', '-f', 'plain', '-o', 'sig', 'data'], { env, cwd: dir }), 1000),
};

export default [tpmSign];
