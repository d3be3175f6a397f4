// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { createCipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, sign as nodeSign } from 'node:crypto';
import { ManualClock, isEcpsError } from '@ecps/core';
import { SealedEnvelope } from '@ecps/proto/ext/v1';
import { SEALED_ALG_P256, SEALED_ALG_X25519, openEnvelope, sealEnvelope, sealedAad } from './sealed-envelope';
import { SoftwareKeyProvider } from './software-key-provider';
import { KeyDirectory } from './key-directory';
import { IdentitySigner } from './identity';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isEcpsError(e) ? e.code : String(e);
  }
  return undefined;
}

describe('SealedEnvelope (spec §10)', () => {
  const clock = new ManualClock(1_750_000_000_000);

  it('lays out the AAD exactly', () => {
    const aad = sealedAad({ alg: 'A', senderId: 'bc', recipientKeyId: '', innerType: 'ecps.x', timestampNs: 0x0102030405060708n });
    expect(Buffer.from(aad).toString('hex')).toBe(
      '01000000' + '41' + '02000000' + '6263' + '00000000' + '06000000' + Buffer.from('ecps.x').toString('hex') + '0807060504030201',
    );
  });

  it('opens an envelope built independently with node:crypto following the spec byte layout', async () => {
    const recipient = new SoftwareKeyProvider();
    const info = await recipient.generateKey('fleet', 'x25519');
    const eph = generateKeyPairSync('x25519');
    const epk = new Uint8Array(eph.publicKey.export({ format: 'der', type: 'spki' })).slice(-32);
    const rpkObj = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), info.publicKey!]), format: 'der', type: 'spki' });
    const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: rpkObj });
    const key = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, info.publicKey!]), Buffer.from('ecps/ext/v1 sealed'), 32));
    const env: SealedEnvelope = {
      ...SealedEnvelope.fromPartial({}),
      alg: SEALED_ALG_X25519,
      senderId: 'ref',
      recipientKeyId: 'fleet',
      ephemeralPublicKey: epk,
      nonce: new Uint8Array(12).fill(7),
      innerType: 'ecps.eap.action',
      timestampNs: 1n,
    };
    const c = createCipheriv('aes-256-gcm', key, env.nonce);
    c.setAAD(sealedAad(env));
    env.ciphertext = Buffer.concat([c.update('hello robot'), c.final(), c.getAuthTag()]);
    const wire = SealedEnvelope.decode(SealedEnvelope.encode(env).finish());
    expect(Buffer.from(await openEnvelope(wire, { provider: recipient })).toString()).toBe('hello robot');
  });

  it.each([
    ['x25519', SEALED_ALG_X25519],
    ['ecdsa-p256', SEALED_ALG_P256],
  ] as const)('round-trips with %s and a signature verified through the key directory', async (algorithm, alg) => {
    const recipient = new SoftwareKeyProvider();
    const info = await recipient.generateKey('r', algorithm);
    const signerKeys = new SoftwareKeyProvider();
    await signerKeys.generateKey('s', 'ed25519');
    const signer = new IdentitySigner({ id: 'arm-1', keyId: 's', provider: signerKeys });
    const dir = new KeyDirectory({ keys: [await signer.trustedKey()] });
    const env = await sealEnvelope({
      plaintext: new TextEncoder().encode('payload'),
      innerType: 'ecps.eap.action',
      senderId: 'arm-1',
      recipient: { keyId: 'r', algorithm, publicKey: info.publicKey! },
      signer,
      clock,
    });
    expect(env.alg).toBe(alg);
    expect(env.signature.length).toBe(64);
    const verifySignature = async (e: SealedEnvelope, input: Uint8Array) => void dir.verify(e.signerKeyId, input, e.signature);
    expect(Buffer.from(await openEnvelope(env, { provider: recipient, verifySignature, requireSignature: true })).toString()).toBe('payload');

    const tampered = { ...env, ciphertext: env.ciphertext.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(await codeOf(openEnvelope(tampered, { provider: recipient, verifySignature }))).toBe('SIGNATURE_INVALID');
    expect(await codeOf(openEnvelope({ ...tampered, signature: new Uint8Array(0), signerKeyId: '' }, { provider: recipient }))).toBe('DECRYPTION_FAILED');
    expect(await codeOf(openEnvelope({ ...env, innerType: 'ecps.mcp.prompt', signature: new Uint8Array(0) }, { provider: recipient }))).toBe('DECRYPTION_FAILED');
    expect(await codeOf(openEnvelope({ ...env, signature: new Uint8Array(0) }, { provider: recipient, requireSignature: true }))).toBe('UNAUTHENTICATED');
    expect(await codeOf(openEnvelope({ ...env, recipientKeyId: 'someone-else' }, { provider: recipient, verifySignature }))).toBe('KEY_NOT_FOUND');
  });

  it('rejects an all-zero shared secret (low-order ephemeral key)', async () => {
    const recipient = new SoftwareKeyProvider();
    const info = await recipient.generateKey('r', 'x25519');
    const env = await sealEnvelope({ plaintext: new Uint8Array(4), innerType: 't', senderId: 's', recipient: { keyId: 'r', algorithm: 'x25519', publicKey: info.publicKey! } });
    for (const point of [new Uint8Array(32), Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0))]) {
      expect(await codeOf(openEnvelope({ ...env, ephemeralPublicKey: point }, { provider: recipient }))).toBe('DECRYPTION_FAILED');
    }
  });

  it('signs with RSA-PSS and ECDSA too (accepted algorithms), and refuses a signature under the wrong key type', async () => {
    const data = new TextEncoder().encode('x');
    for (const algorithm of ['rsa-pss-2048', 'ecdsa-p256'] as const) {
      const p = new SoftwareKeyProvider();
      await p.generateKey('k', algorithm);
      const signer = new IdentitySigner({ id: 'n', keyId: 'k', provider: p });
      const dir = new KeyDirectory({ keys: [await signer.trustedKey()] });
      expect(dir.verify('k', data, await p.sign('k', data)).principalId).toBe('n');
      expect(() => dir.verify('k', data, new Uint8Array(64))).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
    }
    // the reference Python signer: RSA-PSS, SHA-256, maximum salt
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const dir = new KeyDirectory({ keys: [{ keyId: 'ref', principalId: 'ref', algorithm: 'rsa-pss-2048', publicKey: new Uint8Array(rsa.publicKey.export({ format: 'der', type: 'spki' })) }] });
    const sig = nodeSign('sha256', data, { key: rsa.privateKey, padding: 6, saltLength: 222 });
    expect(dir.verify('ref', data, sig, 'PS256').principalId).toBe('ref');
    expect(() => dir.verify('ref', data, sig, 'RS256')).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
  });
});
