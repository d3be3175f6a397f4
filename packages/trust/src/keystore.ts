// SPDX-License-Identifier: Apache-2.0
// A local keystore encrypted at rest: the keys of a SoftwareKeyProvider under AES-256-GCM with a scrypt-derived key.
import { randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { KeyAlgorithm } from '@ecps/core';
import { TrustError } from './errors';
import { SoftwareKeyProvider, aesGcmOpen, aesGcmSeal, type ExportedKey } from './software-key-provider';

export interface KeystoreKdfParams {
  /** scrypt cost (power of two). Default 2^15 (about 32 MiB, ~100 ms). */
  N?: number;
  r?: number;
  p?: number;
}

interface KeystoreFile {
  format: 'ecps-keystore';
  version: 1;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: { name: 'aes-256-gcm'; nonce: string; ciphertext: string };
}

const AAD = new TextEncoder().encode('ecps-keystore-v1');

function deriveKey(passphrase: string, salt: Uint8Array, params: Required<KeystoreKdfParams>): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(passphrase.normalize('NFKC'), salt, 32, options, (e, key) => (e ? reject(e) : resolve(key))));
}

/**
 * Writes every key of `provider` to `path` (mode 0600, atomically via a temporary file and rename).
 * @throws TrustError `INVALID_ARGUMENT` for an empty passphrase, `IO_ERROR` when the file cannot be written.
 */
export async function saveKeystore(path: string, provider: SoftwareKeyProvider, passphrase: string, kdf: KeystoreKdfParams = {}): Promise<void> {
  if (!passphrase) throw new TrustError('INVALID_ARGUMENT', 'keystore passphrase must not be empty');
  const params = { N: kdf.N ?? 2 ** 15, r: kdf.r ?? 8, p: kdf.p ?? 1 };
  const salt = randomBytes(16);
  const key = await deriveKey(passphrase, salt, params);
  const plaintext = Buffer.from(
    JSON.stringify(provider.exportKeys().map((k) => ({ id: k.id, algorithm: k.algorithm, material: Buffer.from(k.material).toString('base64') }))),
  );
  const sealed = aesGcmSeal(key, { plaintext, aad: AAD });
  const file: KeystoreFile = {
    format: 'ecps-keystore',
    version: 1,
    kdf: { name: 'scrypt', ...params, salt: salt.toString('base64') },
    cipher: { name: 'aes-256-gcm', nonce: Buffer.from(sealed.nonce).toString('base64'), ciphertext: Buffer.from(sealed.ciphertext).toString('base64') },
  };
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(file, null, 2), { mode: 0o600 });
    await rename(tmp, path);
  } catch (cause) {
    throw new TrustError('IO_ERROR', `cannot write keystore ${path}`, { cause });
  }
}

/**
 * Reads a keystore into a fresh provider.
 * @throws TrustError `NOT_FOUND` when the file is absent, `DECODE_ERROR` when it is not a keystore,
 *   `DECRYPTION_FAILED` for a wrong passphrase or a tampered file.
 */
export async function loadKeystore(path: string, passphrase: string): Promise<SoftwareKeyProvider> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'IO_ERROR';
    throw new TrustError(code, `cannot read keystore ${path}`, { cause });
  }
  let file: KeystoreFile;
  try {
    file = JSON.parse(text) as KeystoreFile;
    if (file.format !== 'ecps-keystore' || file.version !== 1 || file.kdf.name !== 'scrypt') throw new Error('not an ecps keystore v1');
  } catch (cause) {
    throw new TrustError('DECODE_ERROR', `${path} is not an ECPS keystore`, { cause });
  }
  const key = await deriveKey(passphrase, Buffer.from(file.kdf.salt, 'base64'), file.kdf);
  const plaintext = aesGcmOpen(key, {
    nonce: Buffer.from(file.cipher.nonce, 'base64'),
    ciphertext: Buffer.from(file.cipher.ciphertext, 'base64'),
    aad: AAD,
  });
  const provider = new SoftwareKeyProvider();
  const entries = JSON.parse(Buffer.from(plaintext).toString('utf8')) as Array<{ id: string; algorithm: KeyAlgorithm; material: string }>;
  for (const e of entries) provider.importKey({ id: e.id, algorithm: e.algorithm, material: Buffer.from(e.material, 'base64') } satisfies ExportedKey);
  return provider;
}

/** Loads the keystore at `path`, or creates it with `init` when absent. */
export async function openOrCreateKeystore(
  path: string,
  passphrase: string,
  init: (provider: SoftwareKeyProvider) => Promise<void>,
  kdf?: KeystoreKdfParams,
): Promise<SoftwareKeyProvider> {
  try {
    return await loadKeystore(path, passphrase);
  } catch (error) {
    if (!(error instanceof TrustError) || error.code !== 'NOT_FOUND') throw error;
  }
  const provider = new SoftwareKeyProvider();
  await init(provider);
  await saveKeystore(path, provider, passphrase, kdf);
  return provider;
}
