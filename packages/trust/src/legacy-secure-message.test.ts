// SPDX-License-Identifier: Apache-2.0
// Messages are built here with node:crypto following the spec's byte layout of the reference SecureMessage.
import { describe, expect, it } from '@jest/globals';
import { constants, createCipheriv, generateKeyPairSync, publicEncrypt, randomBytes, sign } from 'node:crypto';
import { readLegacySecureMessage } from './legacy-secure-message';

const sender = generateKeyPairSync('rsa', { modulusLength: 2048 });
const receiver = generateKeyPairSync('rsa', { modulusLength: 2048 });
const oaep = (data: Buffer) => publicEncrypt({ key: receiver.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, data);
const pss = (data: Buffer) => sign('sha256', data, { key: sender.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN });
function cbc(key: Buffer, iv: Buffer, data: Buffer) {
  const c = createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

describe('reference SecureMessage (read-only)', () => {
  const payload = Buffer.from('EAP protobuf bytes '.repeat(20));

  it('verifies an RSA-PSS (max salt) signed plaintext message', () => {
    const msg = { message: payload.toString('base64'), message_type: 'EAP', timestamp: 1750000000, signature: pss(payload).toString('base64'), sender_id: 'ref-1' };
    const out = readLegacySecureMessage(JSON.stringify({ ...msg, timestamp: '1750000000123456789' }), { verifyKey: sender.publicKey });
    expect(out).toMatchObject({ messageType: 'EAP', senderId: 'ref-1', signed: true, encrypted: false, timestampNs: 1750000000123456789n });
    expect(Buffer.from(out.payload)).toEqual(payload);
    const forged = { ...msg, message: Buffer.from('other').toString('base64') };
    expect(() => readLegacySecureMessage(forged, { verifyKey: sender.publicKey })).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
    expect(() => readLegacySecureMessage({ ...msg, signature: null }, { verifyKey: sender.publicKey })).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
  });

  it('decrypts the hybrid blob u32be len ‖ RSA-OAEP(key) ‖ IV ‖ AES-256-CBC', () => {
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const encKey = oaep(key);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(encKey.length);
    const blob = Buffer.concat([len, encKey, iv, cbc(key, iv, payload)]);
    const out = readLegacySecureMessage({ message: blob.toString('base64'), message_type: 'EAP', timestamp: 1, signature: pss(blob).toString('base64') }, { verifyKey: sender.publicKey, decryptKey: receiver.privateKey });
    expect(Buffer.from(out.payload)).toEqual(payload);
    expect(out.encrypted).toBe(true);
    const small = Buffer.from('tiny');
    expect(Buffer.from(readLegacySecureMessage({ message: oaep(small).toString('base64'), message_type: 'MCP', timestamp: 1 }, { decryptKey: receiver.privateKey }).payload)).toEqual(small);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => readLegacySecureMessage({ message: blob.toString('base64'), message_type: 'EAP', timestamp: 1 }, { decryptKey: other.privateKey })).toThrow(
      expect.objectContaining({ code: 'DECRYPTION_FAILED' }),
    );
  });

  it('decrypts the encrypted_key + iv field form and rejects malformed input', () => {
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const msg = { message: cbc(key, iv, payload).toString('base64'), message_type: 'EAP', timestamp: 5, encrypted_key: oaep(key).toString('base64'), iv: iv.toString('base64') };
    expect(Buffer.from(readLegacySecureMessage(msg, { decryptKey: receiver.privateKey }).payload)).toEqual(payload);
    expect(() => readLegacySecureMessage(msg)).toThrow(expect.objectContaining({ code: 'KEY_NOT_FOUND' }));
    expect(() => readLegacySecureMessage('{nope')).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    expect(() => readLegacySecureMessage({ ...msg, message: '@@@' })).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
});
