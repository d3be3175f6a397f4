// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { ManualClock, cryptoRandom } from '@ecps/core';
import { IdentitySigner } from './identity';
import { KeyDirectory } from './key-directory';
import { ReplayGuard } from './replay-guard';
import { completeHandshake, confirmationValid, createHandshakeInit, readConfirm, respondToHandshake } from './session-handshake';
import { SoftwareKeyProvider } from './software-key-provider';

async function signer(id: string, keyId = `${id}-k`): Promise<IdentitySigner> {
  const provider = new SoftwareKeyProvider();
  await provider.generateKey(keyId, 'ed25519');
  return new IdentitySigner({ id, keyId, provider });
}

async function setup() {
  const clock = new ManualClock();
  const a = await signer('a');
  const b = await signer('b');
  const keys = new KeyDirectory({ keys: [await a.trustedKey(), await b.trustedKey()], clock });
  const freshness = new ReplayGuard({ clock });
  return { clock, a, b, keys, freshness };
}

describe('session handshake', () => {
  it('gives both sides the same directional keys and session id, bound to both identities', async () => {
    const { clock, a, b, keys, freshness } = await setup();
    const pending = await createHandshakeInit('a', 'b', a, clock, cryptoRandom);
    const resp = await respondToHandshake(pending.init, 'b', b, keys, freshness, cryptoRandom);
    const done = completeHandshake(pending, resp.reply, 'a', keys);
    expect(done.keys.peerId).toBe('b');
    expect(resp.keys.peerId).toBe('a');
    expect(Buffer.from(done.keys.sessionId)).toEqual(Buffer.from(resp.keys.sessionId));
    expect(Buffer.from(done.keys.sendKey)).toEqual(Buffer.from(resp.keys.receiveKey));
    expect(Buffer.from(done.keys.receiveKey)).toEqual(Buffer.from(resp.keys.sendKey));
    expect(Buffer.from(done.keys.sendKey)).not.toEqual(Buffer.from(done.keys.receiveKey));
    const confirm = readConfirm(done.confirm);
    expect(confirmationValid(resp.confirmKey, confirm.mac)).toBe(true);
    // a second exchange between the same nodes yields fresh keys (ephemeral X25519 each time)
    const again = await createHandshakeInit('a', 'b', a, clock, cryptoRandom);
    const resp2 = await respondToHandshake(again.init, 'b', b, keys, freshness, cryptoRandom);
    expect(Buffer.from(resp2.keys.receiveKey)).not.toEqual(Buffer.from(resp.keys.receiveKey));
  });

  it('refuses a first message signed with a key that is not the named node\'s', async () => {
    const { clock, b, keys, freshness } = await setup();
    const mallory = await signer('mallory');
    keys.add(await mallory.trustedKey()); // enrolled, but as mallory
    const claimsA = await createHandshakeInit('a', 'b', mallory, clock, cryptoRandom);
    await expect(respondToHandshake(claimsA.init, 'b', b, keys, freshness, cryptoRandom)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'identity-mismatch' } });
    const stranger = await signer('a', 'unknown-k'); // right name, key nobody enrolled
    const unknown = await createHandshakeInit('a', 'b', stranger, clock, cryptoRandom);
    await expect(respondToHandshake(unknown.init, 'b', b, keys, freshness, cryptoRandom)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
  });

  it('refuses a reply signed by anyone but the peer it was sent to', async () => {
    const { clock, a, keys, freshness } = await setup();
    const mallory = await signer('b', 'mallory-k');
    keys.add({ ...(await mallory.trustedKey()), principalId: 'mallory' });
    const pending = await createHandshakeInit('a', 'b', a, clock, cryptoRandom);
    const forged = await respondToHandshake(pending.init, 'b', mallory, keys, freshness, cryptoRandom);
    expect(() => completeHandshake(pending, forged.reply, 'a', keys)).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
  });

  it('refuses tampered, replayed, stale and misaddressed first messages, and replies to another handshake', async () => {
    const { clock, a, b, keys, freshness } = await setup();
    const pending = await createHandshakeInit('a', 'b', a, clock, cryptoRandom);
    const tampered = Uint8Array.from(pending.init);
    tampered[10]! ^= 1; // inside the ephemeral key
    await expect(respondToHandshake(tampered, 'b', b, keys, freshness, cryptoRandom)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    await expect(respondToHandshake(pending.init, 'c', b, keys, freshness, cryptoRandom)).rejects.toMatchObject({ code: 'WRONG_RECIPIENT' });
    const resp = await respondToHandshake(pending.init, 'b', b, keys, freshness, cryptoRandom);
    await expect(respondToHandshake(pending.init, 'b', b, keys, freshness, cryptoRandom)).rejects.toMatchObject({ code: 'REPLAY_DETECTED' });
    const old = await createHandshakeInit('a', 'b', a, clock, cryptoRandom);
    clock.advance(301_000);
    await expect(respondToHandshake(old.init, 'b', b, keys, freshness, cryptoRandom)).rejects.toMatchObject({ code: 'STALE_MESSAGE' });
    const other = await createHandshakeInit('a', 'b', a, clock, cryptoRandom);
    expect(() => completeHandshake(other, resp.reply, 'a', keys)).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED', details: { reason: 'not-our-handshake' } }));
    expect(() => completeHandshake(pending, pending.init, 'a', keys)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    await expect(respondToHandshake(pending.init.subarray(0, 20), 'b', b, keys, freshness, cryptoRandom)).rejects.toMatchObject({ code: 'DECODE_ERROR' });
  });

  it('refuses a revoked identity key', async () => {
    const { clock, a, b, keys, freshness } = await setup();
    keys.revoke('a-k');
    const pending = await createHandshakeInit('a', 'b', a, clock, cryptoRandom);
    await expect(respondToHandshake(pending.init, 'b', b, keys, freshness, cryptoRandom)).rejects.toMatchObject({ code: 'KEY_REVOKED' });
  });

  it('agrees on a suite: the responder\'s first choice among those offered, the same on both sides', async () => {
    const { clock, a, b, keys, freshness } = await setup();
    const offers = await createHandshakeInit('a', 'b', a, clock, cryptoRandom, ['aes-256-gcm', 'chacha20-poly1305']);
    const resp = await respondToHandshake(offers.init, 'b', b, keys, freshness, cryptoRandom, ['chacha20-poly1305', 'aes-256-gcm']);
    expect(resp.keys.suite).toBe('chacha20-poly1305');
    expect(completeHandshake(offers, resp.reply, 'a', keys).keys.suite).toBe('chacha20-poly1305');
    const aesOnly = await createHandshakeInit('a', 'b', a, clock, cryptoRandom, ['aes-256-gcm']);
    const resp2 = await respondToHandshake(aesOnly.init, 'b', b, keys, freshness, cryptoRandom);
    expect(resp2.keys.suite).toBe('aes-256-gcm');
    expect(completeHandshake(aesOnly, resp2.reply, 'a', keys).keys.suite).toBe('aes-256-gcm');
  });

  it('refuses an exchange without a suite in common, a reply naming a suite not offered, and an offer changed in transit', async () => {
    const { clock, a, b, keys, freshness } = await setup();
    const aesOnly = await createHandshakeInit('a', 'b', a, clock, cryptoRandom, ['aes-256-gcm']);
    await expect(respondToHandshake(aesOnly.init, 'b', b, keys, freshness, cryptoRandom, ['chacha20-poly1305'])).rejects.toMatchObject({
      code: 'MECHANISM_UNSUPPORTED',
      details: { reason: 'no-common-suite', offered: [1] },
    });
    // the initiator checks the reply's choice against its own record of the offer
    const both = await createHandshakeInit('a', 'b', a, clock, cryptoRandom, ['chacha20-poly1305', 'aes-256-gcm']);
    const resp = await respondToHandshake(both.init, 'b', b, keys, freshness, cryptoRandom, ['chacha20-poly1305']);
    expect(() => completeHandshake({ ...both, offered: [1] }, resp.reply, 'a', keys)).toThrow(expect.objectContaining({ code: 'MECHANISM_UNSUPPORTED' }));
    // a downgrade in transit (offer cut to AES only) breaks the initiator's signature
    const offer = await createHandshakeInit('a', 'b', a, clock, cryptoRandom, ['chacha20-poly1305', 'aes-256-gcm']);
    const at = Buffer.from(offer.init).indexOf(Buffer.from([2, 2, 1]));
    expect(at).toBeGreaterThan(0);
    const cut = Uint8Array.from(offer.init);
    cut[at + 1] = 1; // [count 2: chacha, aes] becomes [count 2: aes, aes]
    await expect(respondToHandshake(cut, 'b', b, keys, freshness, cryptoRandom)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    // and the choice in the reply is under the responder's signature
    const choice = Uint8Array.from(resp.reply);
    const suiteAt = Buffer.from(resp.reply).indexOf(Buffer.from(createHash('sha256').update(both.init).digest())) + 32;
    expect(choice[suiteAt]).toBe(2);
    choice[suiteAt] = 1;
    expect(() => completeHandshake(both, choice, 'a', keys)).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }));
  });
});
