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
    const direct = oaep(small);
    expect(Buffer.from(readLegacySecureMessage({ message: direct.toString('base64'), message_type: 'MCP', timestamp: 1, signature: pss(direct).toString('base64') }, { verifyKey: sender.publicKey, decryptKey: receiver.privateKey }).payload)).toEqual(small);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => readLegacySecureMessage({ message: blob.toString('base64'), message_type: 'EAP', timestamp: 1, signature: pss(blob).toString('base64') }, { verifyKey: sender.publicKey, decryptKey: other.privateKey })).toThrow(
      expect.objectContaining({ code: 'DECRYPTION_FAILED' }),
    );
  });

  it('refuses the encrypted_key + iv field form: its key and IV are outside the signature (found by the fuzzer)', () => {
    const key = randomBytes(32);
    const iv = Buffer.alloc(16, 2);
    const body = cbc(key, iv, payload);
    const msg = { message: body.toString('base64'), message_type: 'EAP', timestamp: 5, encrypted_key: oaep(key).toString('base64'), iv: iv.toString('base64'), signature: pss(body).toString('base64') };
    // flipping IV bits flips the same bits of the first plaintext block while the signature still verifies
    const tamperedIv = Buffer.from(iv);
    tamperedIv[0] = tamperedIv[0]! ^ 0x20;
    for (const m of [msg, { ...msg, iv: tamperedIv.toString('base64') }]) {
      expect(() => readLegacySecureMessage(m, { verifyKey: sender.publicKey, decryptKey: receiver.privateKey })).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    }
    expect(() => readLegacySecureMessage('{nope')).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    expect(() => readLegacySecureMessage({ ...msg, message: '@@@' })).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });

  it('refuses JSON of the wrong shape with DECODE_ERROR', () => {
    const good = { message: payload.toString('base64'), message_type: 'EAP', timestamp: 1, signature: pss(payload).toString('base64') };
    for (const bad of ['null', '5', '[]', JSON.stringify({ ...good, signature: 5 }), JSON.stringify({ ...good, sender_id: 7 }), JSON.stringify({ ...good, security_token: {} }), JSON.stringify({ ...good, timestamp: {} })]) {
      expect(() => readLegacySecureMessage(bad, { verifyKey: sender.publicKey })).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    }
  });

  it('never decrypts an AES-CBC body before its signature verified (no padding oracle for forgers)', () => {
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const encKey = oaep(key);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(encKey.length);
    const body = Buffer.concat([len, encKey, iv, cbc(key, iv, payload)]);
    const unsigned = { message: body.toString('base64'), message_type: 'EAP', timestamp: 5 };
    for (const options of [{ decryptKey: receiver.privateKey }, { decryptKey: receiver.privateKey, verifyKey: sender.publicKey, requireSignature: false }]) {
      expect(() => readLegacySecureMessage(unsigned, options)).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    }
    // a signature the reader cannot check is no better than none
    expect(() => readLegacySecureMessage({ ...unsigned, signature: pss(body).toString('base64') }, { decryptKey: receiver.privateKey })).toThrow(
      expect.objectContaining({ code: 'UNAUTHENTICATED' }),
    );
    // a tampered body fails on its signature, whatever its padding would have said
    const tampered = Buffer.from(body);
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
    expect(() =>
      readLegacySecureMessage({ ...unsigned, message: tampered.toString('base64'), signature: pss(body).toString('base64') }, { verifyKey: sender.publicKey, decryptKey: receiver.privateKey }),
    ).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
  });
});
