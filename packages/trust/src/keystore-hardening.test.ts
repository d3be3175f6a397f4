// SPDX-License-Identifier: Apache-2.0
// Keys under attack: caller-chosen nonces, the per-key AES-GCM invocation limit, hostile keystore files.
import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKeystore, saveKeystore } from './keystore';
import { SoftwareKeyProvider, aesGcmSeal } from './software-key-provider';

const kdf = { N: 2 ** 12 };
const plaintext = new TextEncoder().encode('pose');

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ecps-ks-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('AES-GCM nonces are never the caller\'s', () => {
  it('refuses a caller-chosen nonce with INVALID_ARGUMENT and always picks a fresh one', async () => {
    const p = new SoftwareKeyProvider();
    await p.generateKey('k', 'aes-256-gcm');
    await expect(p.encrypt('k', { plaintext, nonce: new Uint8Array(12) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const key = new Uint8Array(32);
    expect(() => aesGcmSeal(key, { plaintext, nonce: new Uint8Array(12) } as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as unknown as Error);
    const a = await p.encrypt('k', { plaintext });
    const b = await p.encrypt('k', { plaintext });
    expect(Buffer.from(a.nonce).equals(Buffer.from(b.nonce))).toBe(false);
  });
});

describe('the AES-GCM invocation limit is counted per key', () => {
  it('refuses encryptions beyond the limit with RESOURCE_EXHAUSTED, across callers and wrapKey', async () => {
    const p = new SoftwareKeyProvider({ maxEncryptionsPerKey: 3 });
    await p.generateKey('k', 'aes-256-gcm');
    await p.generateKey('other', 'aes-256-gcm');
    await p.encrypt('k', { plaintext }); // e.g. log file 1
    await p.encrypt('k', { plaintext }); // log file 2
    await p.wrapKey('k', new Uint8Array(32)); // a wrapped data key
    await expect(p.encrypt('k', { plaintext })).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    await expect(p.wrapKey('k', new Uint8Array(32))).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    // decryption and other keys are unaffected
    await p.encrypt('other', { plaintext });
    expect(p.encryptionsUsed('k')).toBe(3);
  });

  it('keeps the count in the keystore, so a restart does not reset it', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'node.key');
      const p = new SoftwareKeyProvider({ maxEncryptionsPerKey: 3 });
      await p.generateKey('k', 'aes-256-gcm');
      await p.encrypt('k', { plaintext });
      await p.encrypt('k', { plaintext });
      await saveKeystore(file, p, 'pw', kdf);
      const reloaded = await loadKeystore(file, 'pw', { maxEncryptionsPerKey: 3 });
      expect(reloaded.encryptionsUsed('k')).toBe(2);
      await reloaded.encrypt('k', { plaintext });
      await expect(reloaded.encrypt('k', { plaintext })).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    });
  });
});

describe('a hostile keystore file', () => {
  it('cannot make scrypt allocate or spin: KDF parameters are bounded before deriving (DECODE_ERROR)', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'node.key');
      const p = new SoftwareKeyProvider();
      await p.generateKey('e', 'ed25519');
      await saveKeystore(file, p, 'pw', kdf);
      const good = JSON.parse(await readFile(file, 'utf8')) as { kdf: Record<string, unknown> };
      for (const hostile of [{ N: 2 ** 30 }, { N: 2 ** 20, r: 64 }, { p: 1_000_000 }, { N: 3 }, { r: 0 }, { N: '16384' }, { salt: 42 }]) {
        await writeFile(file, JSON.stringify({ ...good, kdf: { ...good.kdf, ...hostile } }));
        await expect(loadKeystore(file, 'pw')).rejects.toMatchObject({ code: 'DECODE_ERROR' });
      }
      for (const broken of ['null', '[]', '{"format":"ecps-keystore","version":1}', JSON.stringify({ ...good, cipher: { nonce: 1 } })]) {
        await writeFile(file, broken);
        await expect(loadKeystore(file, 'pw')).rejects.toMatchObject({ code: 'DECODE_ERROR' });
      }
      await expect(saveKeystore(file, p, 'pw', { N: 2 ** 30 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });
  });
});
