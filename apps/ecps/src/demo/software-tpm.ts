// SPDX-License-Identifier: Apache-2.0
// A software TPM 2.0 for the demo: Debian's `swtpm` in character-device mode on a socket pair (no ports, no kernel
// module), with its own state folder, stopped by process id.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';

export interface SoftwareTpm {
  /** Raw TPM command/response stream (what `/dev/tpmrm0` carries): give it to `streamTransport`. */
  readonly stream: Duplex;
  /** SIGTERM by pid, waits for the exit, removes the state folder. Idempotent. */
  stop(): Promise<void>;
}

/** Whether `binary` (default `swtpm`) runs. */
export function swtpmInstalled(binary = 'swtpm'): boolean {
  try {
    execFileSync(binary, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts a fresh, powered-on TPM. @throws Error when swtpm cannot be started. */
export function startSoftwareTpm(binary = 'swtpm'): SoftwareTpm {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-demo-swtpm-'));
  const child = spawn(binary, ['chardev', '--tpm2', '--fd', '3', '--tpmstate', `dir=${dir}`, '--flags', 'not-need-init,startup-clear'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  });
  const stream = child.stdio[3] as Duplex | null;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined); // surfaces as a closed stream
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
        await exited;
      }
    } finally {
      stream?.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  if (!stream || child.pid === undefined) {
    void stop();
    throw new Error('swtpm did not start');
  }
  return { stream, stop };
}
