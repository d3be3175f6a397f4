// Without Cyclone DDS the workspace still installs: the build script records why it did not build and exits 0, and
// the package throws TRANSPORT_UNAVAILABLE naming what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { bundleScript } from '@ecps/testkit';
import { ddsBindingStatus, ddsTransport } from '../src/index';
import { BINDING_ENV } from './support/binding';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const APT = 'apt-get install libddsc0debian cyclonedds-dev cyclonedds-tools';
const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The package's build inputs in a fresh directory, so the real build is never touched. */
function packageCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ecps-dds-install-'));
  temps.push(dir);
  for (const part of ['binding.gyp', 'native', 'scripts']) cpSync(join(packageDir, part), join(dir, part), { recursive: true });
  return dir;
}

function runBuildScript(dir: string, env: Record<string, string>) {
  const result = spawnSync(process.execPath, [join(dir, 'scripts', 'build-native.mjs')], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8' });
  const status = JSON.parse(readFileSync(join(dir, 'build', 'ecps-dds-status.json'), 'utf8')) as { built: boolean; reason?: string };
  return { exitCode: result.status, stdout: result.stdout, status };
}

describe('installing without Cyclone DDS', () => {
  it('the install script exits 0 and records what is missing', () => {
    const dir = packageCopy();
    const { exitCode, stdout, status } = runBuildScript(dir, { CYCLONEDDS_HOME: join(dir, 'no-cyclone') });
    expect(exitCode).toBe(0);
    expect(status.built).toBe(false);
    expect(status.reason).toContain('Cyclone DDS headers');
    expect(status.reason).toContain('idlc');
    expect(status.reason).toContain(APT);
    expect(stdout).toContain('TRANSPORT_UNAVAILABLE');
    expect(existsSync(join(dir, 'build', 'Release', 'ecps_dds.node'))).toBe(false);
  });

  it('the install script can be told not to build', () => {
    const { exitCode, status } = runBuildScript(packageCopy(), { ECPS_DDS_SKIP_BUILD: '1' });
    expect(exitCode).toBe(0);
    expect(status).toMatchObject({ built: false, reason: 'ECPS_DDS_SKIP_BUILD=1' });
  });

  it('the package throws TRANSPORT_UNAVAILABLE naming the packages when the binding is not built', () => {
    let caught: unknown;
    try {
      ddsTransport({ nodeId: 'n', bindingPath: join(tmpdir(), 'no-such-binding.node') });
    } catch (error) {
      caught = error;
    }
    expect(isEcpsError(caught, 'TRANSPORT_UNAVAILABLE')).toBe(true);
    expect((caught as Error).message).toContain(APT);
  });

  it('the package throws TRANSPORT_UNAVAILABLE naming libddsc when the library is gone (bubblewrap hides it)', async () => {
    const library = execFileSync('sh', ['-c', 'readlink -f "$(ldconfig -p | grep -m1 "libddsc.so.0debian" | sed "s/.*=> //")"'], { encoding: 'utf8' }).trim();
    expect(existsSync(library)).toBe(true);
    const script = await bundleScript(fileURLToPath(new URL('./support/probe-binding.ts', import.meta.url)));
    // Everything else stays visible read-only: the checkout itself may live under /tmp (as CI's clone does).
    const out = execFileSync('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--ro-bind', '/dev/null', library, process.execPath, script], {
      encoding: 'utf8',
      env: { ...process.env, ...BINDING_ENV },
    });
    const probe = JSON.parse(out) as { code: string; status: { available: boolean; reason: string } };
    expect(probe.code).toBe('TRANSPORT_UNAVAILABLE');
    expect(probe.status.available).toBe(false);
    expect(probe.status.reason).toMatch(/libddsc\.so\.0debian is not installed/);
    expect(probe.status.reason).toContain(APT);
  });

  it('reports the binding available here, with Cyclone DDS 0.10', () => {
    expect(ddsBindingStatus()).toMatchObject({ available: true, version: expect.stringMatching(/^0\.10\./) as unknown as string });
  });
});
