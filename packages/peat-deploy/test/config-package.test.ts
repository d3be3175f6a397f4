// SPDX-License-Identifier: Apache-2.0
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigPackageAdapter } from '../src/index';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peat-deploy-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ConfigPackageAdapter with a root', () => {
  it('installs target paths inside the root and refuses one that would land outside it', async () => {
    const artifact = join(dir, 'artifact');
    await writeFile(artifact, 'x = 1\n');
    const adapter = new ConfigPackageAdapter({ root: join(dir, 'node-1') });
    const id = await adapter.activate({ type: 'config_package', target_path: '/etc/app.toml' }, null, artifact);
    expect(await readFile(join(dir, 'node-1', 'etc', 'app.toml'), 'utf8')).toBe('x = 1\n');
    expect(await adapter.health(id)).toEqual({ type: 'Running' });
    await expect(adapter.activate({ type: 'config_package', target_path: '../escape.toml' }, null, artifact)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(adapter.activate({ type: 'config_package', target_path: '' }, null, artifact)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });
});
