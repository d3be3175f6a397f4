// SPDX-License-Identifier: Apache-2.0
// Keystore writes survive a power cut: the file is fsynced before the rename and the directory after it. Its own
// file, because node:fs/promises is replaced before the keystore module is loaded.
import { describe, expect, it, jest } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('keystore writes are durable', () => {
  it('fsyncs the file before the rename and the directory after it', async () => {
    const calls: string[] = [];
    const real = await import('node:fs/promises');
    jest.unstable_mockModule('node:fs/promises', () => ({
      ...real,
      default: real,
      open: async (path: string, flags?: string, mode?: number) => {
        const handle = await real.open(path, flags, mode);
        const kind = path.endsWith('.tmp') ? 'file' : 'dir';
        return new Proxy(handle, {
          get(target, prop, receiver) {
            if (prop === 'sync') return async () => { calls.push(`sync ${kind}`); await target.sync(); };
            const value = Reflect.get(target, prop, receiver) as unknown;
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        });
      },
      rename: async (from: string, to: string) => {
        calls.push('rename');
        await real.rename(from, to);
      },
    }));
    const { saveKeystore } = await import('./keystore');
    const { SoftwareKeyProvider } = await import('./software-key-provider');
    const dir = await mkdtemp(join(tmpdir(), 'ecps-ks-'));
    try {
      const p = new SoftwareKeyProvider();
      await p.generateKey('e', 'ed25519');
      await saveKeystore(join(dir, 'node.key'), p, 'pw', { N: 2 ** 12 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(calls).toEqual(['sync file', 'rename', 'sync dir']);
  });
});
