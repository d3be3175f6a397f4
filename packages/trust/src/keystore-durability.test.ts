// SPDX-License-Identifier: Apache-2.0
// Keystore writes go through @ecps/core's writeFileDurable (core's tests check its fsync order); here: the result is
// owner-only, a rewrite replaces the file in place and no temporary file is left beside it.
import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveKeystore } from './keystore';
import { SoftwareKeyProvider } from './software-key-provider';

describe('keystore writes are durable', () => {
  it('writes an owner-only file and leaves no temporary file behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecps-ks-'));
    try {
      const p = new SoftwareKeyProvider();
      await p.generateKey('e', 'ed25519');
      const path = join(dir, 'node.key');
      await saveKeystore(path, p, 'pw', { N: 2 ** 12 });
      await saveKeystore(path, p, 'pw2', { N: 2 ** 12 });
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await readdir(dir)).toEqual(['node.key']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
