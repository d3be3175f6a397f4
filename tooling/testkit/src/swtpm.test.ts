// SPDX-License-Identifier: Apache-2.0
// The swtpm launcher: tpm2-tools reach it through their standard TCTI (control port = port + 1), stop is by pid and
// leaves nothing behind, restart keeps the ports and the state.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { startSwtpm, swtpmAvailable } from './swtpm';

const run = promisify(execFile);
const toolsAvailable = (() => {
  try {
    execFileSync('tpm2_getrandom', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!swtpmAvailable() || !toolsAvailable) console.warn('swtpm or tpm2-tools not installed: swtpm launcher test skipped (apt-get install swtpm tpm2-tools)');

(swtpmAvailable() && toolsAvailable ? describe : describe.skip)('startSwtpm', () => {
  it('serves tpm2-tools over the swtpm TCTI, survives a restart on the same ports, and stops by pid leaving nothing', async () => {
    const tpm = await startSwtpm();
    const tcti = { ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${tpm.port}` };
    try {
      expect(tpm.ctrlPort).toBe(tpm.port + 1);
      const first = await run('tpm2_getrandom', ['--hex', '8'], { env: tcti });
      expect(first.stdout.trim()).toMatch(/^[0-9a-f]{16}$/);
      const pid = tpm.pid;
      await tpm.restart();
      expect(tpm.pid).not.toBe(pid);
      const second = await run('tpm2_getrandom', ['--hex', '8'], { env: tcti });
      expect(second.stdout.trim()).toMatch(/^[0-9a-f]{16}$/);
    } finally {
      await tpm.stop();
    }
    expect(existsSync(tpm.dir)).toBe(false);
    expect(() => process.kill(tpm.pid, 0)).toThrow();
  });
});
