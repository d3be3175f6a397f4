// SPDX-License-Identifier: Apache-2.0
// Envelope encryption: the `data_key` header key carries the record key wrapped by a KMS key.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { KeyProvider } from '@ecps/core';
import { crc32 } from './crc32';
import { LocalKeyFileProvider, encodeEaplog, parseEaplog, decodeMessages } from './index';

/** A stand-in KMS: holds the wrapping key and counts unwraps (the real ones live in @ecps/kms-*). */
class CountingKek extends LocalKeyFileProvider implements KeyProvider {
  unwraps = 0;
  async wrapKey(id: string, key: Uint8Array): Promise<Uint8Array> {
    const sealed = await this.encrypt(id, { plaintext: key });
    return new Uint8Array([...sealed.nonce, ...sealed.ciphertext]);
  }
  async unwrapKey(id: string, wrapped: Uint8Array): Promise<Uint8Array> {
    this.unwraps++;
    return this.decrypt(id, { nonce: wrapped.subarray(0, 12), ciphertext: wrapped.subarray(12) });
  }
}

const messages = Array.from({ length: 5 }, (_, i) => new TextEncoder().encode(`action-${i}`));

async function envelopeLog(): Promise<{ bytes: Uint8Array; kms: CountingKek; wrapped: Uint8Array }> {
  const kms = new CountingKek({ kek: { algorithm: 'aes-256-gcm', key: new Uint8Array(randomBytes(32)) } });
  const dataKey = new Uint8Array(randomBytes(32));
  const wrapped = await kms.wrapKey('kek', dataKey);
  const records = new LocalKeyFileProvider({ 'dk-1': { algorithm: 'aes-256-gcm', key: dataKey } });
  const bytes = await encodeEaplog(messages, {
    createdAt: 1750000000,
    encryption: { provider: records, keyId: 'dk-1', dataKey: { kms: 'test-kms', kek: 'kek', wrapped } },
  });
  return { bytes, kms, wrapped };
}

describe('data_key header (envelope encryption)', () => {
  it('is written after key_id and read back as fields.dataKey, not as an extension', async () => {
    const { bytes, wrapped } = await envelopeLog();
    const parsed = parseEaplog(bytes);
    const json = new TextDecoder().decode(parsed.headerJson);
    expect(json).toContain(`"key_id":"dk-1","data_key":{"kms":"test-kms","kek":"kek","wrapped":"${Buffer.from(wrapped).toString('base64')}"}}`);
    expect(parsed.fields?.dataKey).toEqual({ kms: 'test-kms', kek: 'kek', wrapped });
    expect(parsed.fields?.extensions).toBeUndefined();
  });

  it('a reader holding only the KMS key unwraps once and decrypts every record', async () => {
    const { bytes, kms } = await envelopeLog();
    const read = await decodeMessages(parseEaplog(bytes), { keyProvider: kms });
    expect(read.map((m) => m.data)).toEqual(messages);
    expect(kms.unwraps).toBe(1);
  });

  it('a reader with the wrong KMS key fails with DECRYPTION_FAILED and retries the unwrap next time', async () => {
    const { bytes } = await envelopeLog();
    const other = new CountingKek({ kek: { algorithm: 'aes-256-gcm', key: new Uint8Array(randomBytes(32)) } });
    const parsed = parseEaplog(bytes);
    await expect(decodeMessages(parsed, { keyProvider: other })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    await expect(decodeMessages(parsed, { keyProvider: other })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    expect(other.unwraps).toBe(2);
  });

  it('a malformed data_key is LOG_CORRUPT', async () => {
    const { bytes } = await envelopeLog();
    const text = Buffer.from(bytes).toString('latin1').replace('"kms":"test-kms"', '"kms":12345678');
    const damaged = new Uint8Array(Buffer.from(text, 'latin1'));
    // the header CRC still matches the old bytes, so rebuild it: the field, not the CRC, must be refused
    const n = new DataView(damaged.buffer).getUint32(0, true);
    new DataView(damaged.buffer).setUint32(4 + n, crc32(damaged.subarray(4, 4 + n)), true);
    expect(() => parseEaplog(damaged)).toThrow(expect.objectContaining({ code: 'LOG_CORRUPT' }));
  });
});
