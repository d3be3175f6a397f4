// SPDX-License-Identifier: Apache-2.0
// Where a TPM provider keeps its keys between runs: the public area and the private part as the TPM wrapped it
// under the storage root key. The wrapped part opens only inside the TPM that made it, so the file holds no secret;
// it is still written with mode 0600 and durably (a lost file loses the keys, not their secrecy).
import { readFile } from 'node:fs/promises';
import { writeFileDurable } from '@ecps/core/internal';
import { fromHex, toHex } from '@ecps/core';
import { TrustError } from '@ecps/trust';

/** A key created under the storage root: its algorithm and the TPM2B bodies TPM2_Load takes. */
export interface StoredKey {
  readonly algorithm: 'ecdsa-p256' | 'rsa-pss-2048';
  readonly publicArea: Uint8Array;
  readonly privateArea: Uint8Array;
}

const FORMAT = 'ecps-tpm-keys-v1';

/** Reads a key file; a missing file is an empty one. @throws TrustError `DECODE_ERROR`, `IO_ERROR`. */
export async function readKeyFile(path: string): Promise<Map<string, StoredKey>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new TrustError('IO_ERROR', `cannot read TPM key file ${path}`, { cause });
  }
  try {
    const parsed = JSON.parse(text) as { format?: unknown; keys?: Record<string, { algorithm: string; public: string; private: string }> };
    if (parsed.format !== FORMAT || typeof parsed.keys !== 'object' || parsed.keys === null) throw new Error(`not a ${FORMAT} file`);
    const keys = new Map<string, StoredKey>();
    for (const [id, k] of Object.entries(parsed.keys)) {
      if (k.algorithm !== 'ecdsa-p256' && k.algorithm !== 'rsa-pss-2048') throw new Error(`key ${id}: unknown algorithm ${k.algorithm}`);
      keys.set(id, { algorithm: k.algorithm, publicArea: fromHex(k.public), privateArea: fromHex(k.private) });
    }
    return keys;
  } catch (cause) {
    throw new TrustError('DECODE_ERROR', `malformed TPM key file ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** Replaces the key file (temporary file, fsync, rename, fsync of the directory). @throws EcpsError `IO_ERROR`. */
export async function writeKeyFile(path: string, keys: ReadonlyMap<string, StoredKey>): Promise<void> {
  const out: Record<string, { algorithm: string; public: string; private: string }> = {};
  for (const [id, k] of keys) out[id] = { algorithm: k.algorithm, public: toHex(k.publicArea), private: toHex(k.privateArea) };
  await writeFileDurable(path, `${JSON.stringify({ format: FORMAT, keys: out }, null, 2)}\n`, { mode: 0o600 });
}
