// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { ManualClock } from '@ecps/core';
import { ReceiveChannel, SendChannel, type SealedMessage } from './session-channel';
import { SESSION_SUITES, availableSessionSuites, type SessionSuiteName } from './session-suite';

const AAD = new Uint8Array([1, 2, 3]);
const text = (s: string) => new TextEncoder().encode(s);

/** The 12-byte nonce of (epoch, counter), built independently of the channel. */
function nonce(epoch: number, seq: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(epoch, 0);
  n.writeBigUInt64BE(BigInt(seq), 4);
  return n;
}

describe.each(SESSION_SUITES)('session channel (%s)', (suite: SessionSuiteName) => {
  function pair(policy = {}, clock = new ManualClock()): { send: SendChannel; receive: ReceiveChannel; clock: ManualClock } {
    const key = randomBytes(32);
    return { send: new SendChannel(key, policy, clock, suite), receive: new ReceiveChannel(key, policy, suite), clock };
  }

  it('round-trips and gives every message its own counter', () => {
    const { send, receive } = pair();
    const a = send.seal(text('one'), AAD);
    const b = send.seal(text('one'), AAD);
    expect([a.seq, b.seq]).toEqual([0, 1]);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
    expect(new TextDecoder().decode(receive.open(b, AAD))).toBe('one');
    expect(new TextDecoder().decode(receive.open(a, AAD))).toBe('one');
  });

  it('refuses a tampered ciphertext, counter, epoch or associated data', () => {
    const { send, receive } = pair();
    const m = send.seal(text('payload'), AAD);
    const flipped = Uint8Array.from(m.ciphertext);
    flipped[0]! ^= 1;
    for (const bad of [{ ...m, ciphertext: flipped }, { ...m, seq: 1 }, { ...m, epoch: 1 }]) {
      expect(() => receive.open(bad, AAD)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
    }
    expect(() => receive.open(m, new Uint8Array([9]))).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
    expect(receive.epoch).toBe(0); // the forged epoch did not move the receiver
    expect(receive.open(m, AAD)).toEqual(text('payload'));
  });

  it('re-keys after maxMessagesPerEpoch messages; the receiver follows, keeps one epoch back, erases older', () => {
    const { send, receive } = pair({ maxMessagesPerEpoch: 3 });
    const sealed: SealedMessage[] = [];
    for (let i = 0; i < 10; i++) sealed.push(send.seal(text(`m${i}`), AAD));
    expect(sealed.map((m) => m.epoch)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
    // nonces (epoch, seq) never repeat and counters keep growing across epochs
    expect(new Set(sealed.map((m) => `${m.epoch}/${m.seq}`)).size).toBe(10);
    expect(sealed.map((m) => m.seq)).toEqual([...Array(10).keys()]);
    // the epoch-1 key differs from epoch 0's: an epoch-1 message relabelled as epoch 0 does not open
    expect(() => receive.open({ ...sealed[3]!, epoch: 0 }, AAD)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
    expect(receive.open(sealed[7]!, AAD)).toEqual(text('m7')); // skips epoch 1
    expect(receive.epoch).toBe(2);
    expect(receive.open(sealed[4]!, AAD)).toEqual(text('m4')); // previous epoch kept for stragglers
    expect(() => receive.open(sealed[0]!, AAD)).toThrow(expect.objectContaining({ code: 'REPLAY_DETECTED', details: expect.objectContaining({ reason: 'old-epoch' }) }));
    expect(receive.open(sealed[9]!, AAD)).toEqual(text('m9'));
  });

  it('never reuses a nonce across re-keys: one plaintext sealed 40 times over 10 epochs gives 40 different ciphertexts', () => {
    const { send, receive } = pair({ maxMessagesPerEpoch: 4 });
    const sealed = Array.from({ length: 40 }, () => send.seal(text('same'), AAD));
    expect(new Set(sealed.map((m) => Buffer.from(m.ciphertext).toString('hex'))).size).toBe(40);
    expect(new Set(sealed.map((m) => `${m.epoch}/${m.seq}`)).size).toBe(40);
    expect(sealed.at(-1)!.epoch).toBe(9);
    for (const m of sealed.slice(-4)) expect(receive.open(m, AAD)).toEqual(text('same'));
  });

  it('re-keys when the epoch key is older than epochMs (injected clock)', () => {
    const { send, receive, clock } = pair({ epochMs: 1000 });
    expect(send.seal(text('a'), AAD).epoch).toBe(0);
    clock.advance(999);
    expect(send.seal(text('b'), AAD).epoch).toBe(0);
    clock.advance(1);
    const late = send.seal(text('c'), AAD);
    expect(late.epoch).toBe(1);
    expect(receive.open(late, AAD)).toEqual(text('c'));
  });

  it('refuses an epoch too far ahead without deriving past the bound', () => {
    const { send, receive } = pair({ maxMessagesPerEpoch: 1, maxSkippedEpochs: 4 });
    const sealed = Array.from({ length: 7 }, (_, i) => send.seal(text(`m${i}`), AAD));
    expect(() => receive.open(sealed[6]!, AAD)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
    expect(receive.open(sealed[4]!, AAD)).toEqual(text('m4'));
    expect(receive.open(sealed[6]!, AAD)).toEqual(text('m6'));
  });

  it('refuses invalid keys and policies', () => {
    expect(() => new SendChannel(new Uint8Array(16))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new SendChannel(randomBytes(32), { maxMessagesPerEpoch: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => new ReceiveChannel(randomBytes(32), { epochMs: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('session suites', () => {
  it('has ChaCha20-Poly1305 here (sodium-native\'s prebuilt binary loads) and prefers it', () => {
    expect(availableSessionSuites()).toEqual(['chacha20-poly1305', 'aes-256-gcm']);
    expect(new SendChannel(randomBytes(32)).seal(text('x'), AAD).ciphertext).toHaveLength(1 + 16);
  });

  it.each(SESSION_SUITES)('%s is the standard AEAD under the (epoch, counter) nonce, checked with node:crypto', (suite) => {
    const key = randomBytes(32);
    const send = new SendChannel(key, { maxMessagesPerEpoch: 2 }, new ManualClock(), suite);
    // epoch 0's key is the handshake's: an independent implementation opens its messages with the nonce (0, seq)
    for (const seq of [0, 1]) {
      const m = send.seal(text(`m${seq}`), AAD);
      expect([m.epoch, m.seq]).toEqual([0, seq]);
      const body = m.ciphertext.subarray(0, -16);
      const d = suite === 'aes-256-gcm' ? createDecipheriv(suite, key, nonce(0, seq)) : createDecipheriv(suite, key, nonce(0, seq), { authTagLength: 16 });
      d.setAAD(AAD);
      d.setAuthTag(m.ciphertext.subarray(-16));
      expect(Buffer.concat([d.update(body), d.final()]).toString()).toBe(`m${seq}`);
    }
  });

  it('keeps the suites apart: a message of one does not open under the other with the same key', () => {
    const key = randomBytes(32);
    const m = new SendChannel(key, {}, new ManualClock(), 'chacha20-poly1305').seal(text('x'), AAD);
    expect(() => new ReceiveChannel(key, {}, 'aes-256-gcm').open(m, AAD)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
    expect(new ReceiveChannel(key, {}, 'chacha20-poly1305').open(m, AAD)).toEqual(text('x'));
  });

  it('refuses an unknown suite', () => {
    expect(() => new SendChannel(randomBytes(32), {}, new ManualClock(), 'rot13' as SessionSuiteName)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
