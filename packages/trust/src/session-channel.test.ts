// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '@ecps/core';
import { ReceiveChannel, SendChannel, type SealedMessage } from './session-channel';

const AAD = new Uint8Array([1, 2, 3]);
const text = (s: string) => new TextEncoder().encode(s);

function pair(policy = {}, clock = new ManualClock()): { send: SendChannel; receive: ReceiveChannel; clock: ManualClock } {
  const key = randomBytes(32);
  return { send: new SendChannel(key, policy, clock), receive: new ReceiveChannel(key, policy), clock };
}

describe('session channel', () => {
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
