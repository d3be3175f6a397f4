// SPDX-License-Identifier: Apache-2.0
// A fresh SoftHSM2 token per test run: its own config and token directory in a temp dir, selected by label.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface SoftHsmToken {
  /** The PKCS#11 module to load. */
  readonly modulePath: string;
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
  /** The SOFTHSM2_CONF this token lives under (already set in process.env). */
  readonly configPath: string;
  /** Removes the token directory and restores SOFTHSM2_CONF. */
  cleanup(): void;
}

const CANDIDATES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so'];

/** The SoftHSM2 module path, or undefined when softhsm2 is not installed. */
export function softHsmModulePath(): string | undefined {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  try {
    return execFileSync('dpkg', ['-L', 'softhsm2'], { encoding: 'utf8' })
      .split('\n')
      .find((line) => line.endsWith('/libsofthsm2.so') && existsSync(line));
  } catch {
    return undefined;
  }
}

/** Whether `softhsm2-util` and the module are present. */
export function softHsmAvailable(): boolean {
  if (!softHsmModulePath()) return false;
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates a token in a temporary directory (`softhsm2-util --init-token --free`) and points SOFTHSM2_CONF at it,
 * which the module reads when it is initialised: create the token before loading the module.
 * @throws Error when softhsm2 is not installed (see tooling/scripts/apt-packages.txt).
 */
export function createSoftHsmToken(options: { label?: string; pin?: string; soPin?: string } = {}): SoftHsmToken {
  const modulePath = softHsmModulePath();
  if (!modulePath) throw new Error('softhsm2 is not installed (apt-get install softhsm2)');
  const dir = mkdtempSync(join(tmpdir(), 'ecps-softhsm-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const configPath = join(dir, 'softhsm2.conf');
  writeFileSync(configPath, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const label = options.label ?? `ecps-${randomBytes(4).toString('hex')}`;
  const pin = options.pin ?? '1234';
  const soPin = options.soPin ?? '5678';
  const previous = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = configPath;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], {
    env: { ...process.env, SOFTHSM2_CONF: configPath },
    stdio: 'ignore',
  });
  return {
    modulePath,
    label,
    pin,
    soPin,
    configPath,
    cleanup() {
      if (previous === undefined) delete process.env['SOFTHSM2_CONF'];
      else process.env['SOFTHSM2_CONF'] = previous;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
