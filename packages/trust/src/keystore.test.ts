// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKeystore, openOrCreateKeystore, saveKeystore } from './keystore';
import { SoftwareKeyProvider } from './software-key-provider';

const kdf = { N: 2 ** 12 };

describe('encrypted keystore and software key provider', () => {
  it('round-trips every key type, encrypted at rest with mode 0600', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecps-ks-'));
    try {
      const p = new SoftwareKeyProvider();
      for (const alg of ['ed25519', 'ecdsa-p256', 'x25519', 'aes-256-gcm'] as const) await p.generateKey(`k-${alg}`, alg);
      const file = join(dir, 'node.key');
      await saveKeystore(file, p, 'correct horse', kdf);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const text = await readFile(file, 'utf8');
      const pkcs8 = Buffer.from(p.exportKeys()[0]!.material).toString('base64');
      expect(text.includes(pkcs8.slice(0, 40))).toBe(false);
      const q = await loadKeystore(file, 'correct horse');
      expect(q.listKeys().sort()).toEqual(p.listKeys().sort());
      const msg = new TextEncoder().encode('m');
      expect(await p.verify('k-ed25519', msg, await q.sign('k-ed25519', msg))).toBe(true);
      const sealed = await q.encrypt('k-aes-256-gcm', { plaintext: msg, aad: msg });
      expect(await p.decrypt('k-aes-256-gcm', { ...sealed, aad: msg })).toEqual(msg);
      await expect(loadKeystore(file, 'wrong')).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      const tampered = JSON.parse(text);
      tampered.cipher.ciphertext = Buffer.from(Buffer.from(tampered.cipher.ciphertext, 'base64').map((b: number, i: number) => (i === 3 ? b ^ 1 : b))).toString('base64');
      await writeFile(file, JSON.stringify(tampered));
      await expect(loadKeystore(file, 'correct horse')).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      await expect(loadKeystore(join(dir, 'absent'), 'x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const created = await openOrCreateKeystore(join(dir, 'new.key'), 'pw', async (k) => void (await k.generateKey('id', 'ed25519')), kdf);
      const reopened = await openOrCreateKeystore(join(dir, 'new.key'), 'pw', async () => undefined, kdf);
      expect((await reopened.getKey('id')).publicKey).toEqual((await created.getKey('id')).publicKey);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports typed errors', async () => {
    const p = new SoftwareKeyProvider();
    await p.generateKey('e', 'ed25519');
    await expect(p.generateKey('e', 'ed25519')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(p.sign('missing', new Uint8Array(1))).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    await expect(p.encrypt('e', { plaintext: new Uint8Array(1) })).rejects.toMatchObject({ code: 'MECHANISM_UNSUPPORTED' });
    await p.generateKey('a', 'aes-256-gcm');
    const wrapped = await p.wrapKey('a', new Uint8Array(32).fill(5));
    expect(await p.unwrapKey('a', wrapped)).toEqual(new Uint8Array(32).fill(5));
    wrapped[20] = wrapped[20]! ^ 1;
    await expect(p.unwrapKey('a', wrapped)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
  });
});
