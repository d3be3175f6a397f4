// SPDX-License-Identifier: Apache-2.0
// A local keystore encrypted at rest: the keys of a SoftwareKeyProvider under AES-256-GCM with a scrypt-derived key.
import { randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { KeyAlgorithm } from '@ecps/core';
import { writeFileDurable } from '@ecps/core/internal';
import { TrustError } from './errors';
import { SoftwareKeyProvider, aesGcmOpen, aesGcmSeal, type ExportedKey, type SoftwareKeyProviderOptions } from './software-key-provider';

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

/**
 * Bounds on the scrypt parameters a keystore may name: a hostile file must not make the loader allocate gigabytes
 * (scrypt needs 128·N·r bytes) or spin for minutes (p parallel passes).
 */
export const KEYSTORE_KDF_LIMITS = { maxMemoryBytes: 256 * 1024 * 1024, maxN: 2 ** 20, maxR: 32, maxP: 16 } as const;

const AAD = new TextEncoder().encode('ecps-keystore-v1');
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Why the parameters are unacceptable, or undefined when they are within {@link KEYSTORE_KDF_LIMITS}. */
function kdfProblem(N: unknown, r: unknown, p: unknown): string | undefined {
  const { maxMemoryBytes, maxN, maxR, maxP } = KEYSTORE_KDF_LIMITS;
  if (typeof N !== 'number' || !Number.isInteger(N) || N < 2 || N > maxN || (N & (N - 1)) !== 0) return `N must be a power of two in 2..${maxN}`;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > maxR) return `r must be an integer in 1..${maxR}`;
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > maxP) return `p must be an integer in 1..${maxP}`;
  if (128 * N * r > maxMemoryBytes) return `N·r needs ${128 * N * r} bytes, more than ${maxMemoryBytes}`;
  return undefined;
}

function deriveKey(passphrase: string, salt: Uint8Array, params: Required<KeystoreKdfParams>): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 128 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(passphrase.normalize('NFKC'), salt, 32, options, (e, key) => (e ? reject(e) : resolve(key))));
}

/**
 * Writes every key of `provider` (with its AES-GCM encryption count) to `path`, mode 0600, durably: a temporary
 * file, fsync, rename, fsync of the directory.
 * @throws TrustError `INVALID_ARGUMENT` for an empty passphrase or KDF parameters beyond {@link KEYSTORE_KDF_LIMITS},
 *   `IO_ERROR` when the file cannot be written.
 */
export async function saveKeystore(path: string, provider: SoftwareKeyProvider, passphrase: string, kdf: KeystoreKdfParams = {}): Promise<void> {
  if (!passphrase) throw new TrustError('INVALID_ARGUMENT', 'keystore passphrase must not be empty');
  const params = { N: kdf.N ?? 2 ** 15, r: kdf.r ?? 8, p: kdf.p ?? 1 };
  const problem = kdfProblem(params.N, params.r, params.p);
  if (problem) throw new TrustError('INVALID_ARGUMENT', `keystore KDF: ${problem}`);
  const salt = randomBytes(16);
  const key = await deriveKey(passphrase, salt, params);
  const plaintext = Buffer.from(
    JSON.stringify(
      provider.exportKeys().map((k) => ({
        id: k.id,
        algorithm: k.algorithm,
        material: Buffer.from(k.material).toString('base64'),
        ...(k.encryptions !== undefined ? { encryptions: k.encryptions } : {}),
      })),
    ),
  );
  const sealed = aesGcmSeal(key, { plaintext, aad: AAD });
  const file: KeystoreFile = {
    format: 'ecps-keystore',
    version: 1,
    kdf: { name: 'scrypt', ...params, salt: salt.toString('base64') },
    cipher: { name: 'aes-256-gcm', nonce: Buffer.from(sealed.nonce).toString('base64'), ciphertext: Buffer.from(sealed.ciphertext).toString('base64') },
  };
  try {
    await writeFileDurable(path, JSON.stringify(file, null, 2), { mode: 0o600 });
  } catch (cause) {
    throw new TrustError('IO_ERROR', `cannot write keystore ${path}`, { cause });
  }
}

/** Parses and bounds a keystore file before any key derivation. */
function parseKeystoreFile(path: string, text: string): KeystoreFile {
  const fail = (why: string, cause?: unknown) => new TrustError('DECODE_ERROR', `${path} is not a usable ECPS keystore: ${why}`, { cause });
  let file: Partial<KeystoreFile> | null;
  try {
    file = JSON.parse(text) as Partial<KeystoreFile> | null;
  } catch (cause) {
    throw fail('not JSON', cause);
  }
  if (typeof file !== 'object' || file === null || file.format !== 'ecps-keystore' || file.version !== 1) throw fail('not an ecps keystore v1');
  const { kdf, cipher } = file;
  if (typeof kdf !== 'object' || kdf === null || kdf.name !== 'scrypt') throw fail('unknown KDF');
  const problem = kdfProblem(kdf.N, kdf.r, kdf.p);
  if (problem) throw fail(problem);
  if (typeof kdf.salt !== 'string' || !BASE64.test(kdf.salt) || kdf.salt.length > 128) throw fail('bad salt');
  if (typeof cipher !== 'object' || cipher === null || cipher.name !== 'aes-256-gcm') throw fail('unknown cipher');
  if (typeof cipher.nonce !== 'string' || !BASE64.test(cipher.nonce) || typeof cipher.ciphertext !== 'string' || !BASE64.test(cipher.ciphertext)) {
    throw fail('bad ciphertext');
  }
  return file as KeystoreFile;
}

/**
 * Reads a keystore into a fresh provider (created with `options`). The file's KDF parameters are checked against
 * {@link KEYSTORE_KDF_LIMITS} before anything is derived.
 * @throws TrustError `NOT_FOUND` when the file is absent, `DECODE_ERROR` when it is not a keystore or names KDF
 *   parameters beyond the limits, `DECRYPTION_FAILED` for a wrong passphrase or a tampered file.
 */
export async function loadKeystore(path: string, passphrase: string, options?: SoftwareKeyProviderOptions): Promise<SoftwareKeyProvider> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'IO_ERROR';
    throw new TrustError(code, `cannot read keystore ${path}`, { cause });
  }
  const file = parseKeystoreFile(path, text);
  const key = await deriveKey(passphrase, Buffer.from(file.kdf.salt, 'base64'), file.kdf);
  const plaintext = aesGcmOpen(key, {
    nonce: Buffer.from(file.cipher.nonce, 'base64'),
    ciphertext: Buffer.from(file.cipher.ciphertext, 'base64'),
    aad: AAD,
  });
  const provider = new SoftwareKeyProvider(options);
  // authenticated by the passphrase-derived key: only a keystore writer produced these bytes
  const entries = JSON.parse(Buffer.from(plaintext).toString('utf8')) as Array<{ id: string; algorithm: KeyAlgorithm; material: string; encryptions?: number }>;
  for (const e of entries) {
    provider.importKey({
      id: e.id,
      algorithm: e.algorithm,
      material: Buffer.from(e.material, 'base64'),
      ...(e.encryptions !== undefined ? { encryptions: e.encryptions } : {}),
    } satisfies ExportedKey);
  }
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
