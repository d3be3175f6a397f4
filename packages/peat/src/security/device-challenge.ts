// SPDX-License-Identifier: Apache-2.0
// Device challenge–response (spec §8.2, fixing the reference): the responder signs
// nonce ‖ challenger_id ‖ u64 LE challenge.timestamp_seconds — the challenge's own timestamp — and the verifier
// accepts only nonces it issued, before they expire, once.
import { cryptoRandom, systemClock, toHex } from '@ecps/core';
import type { Clock, RandomSource } from '@ecps/core';
import { concatBytes, encodeUtf8 } from '../bytes';
import { PeatError } from '../errors';
import { deviceIdFromPublicKey, verifyEd25519 } from './ed25519';
import type { NodeIdentity } from './identity';

export interface DeviceChallenge {
  readonly nonce: Uint8Array;
  /** DeviceId of the challenger (hex). */
  readonly challengerId: string;
  /** Unix ms. */
  readonly timestamp: number;
  readonly expiresAt: number;
}

export interface DeviceChallengeResponse {
  readonly nonce: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** The bytes the responder signs. */
export function challengeSigningInput(challenge: DeviceChallenge): Uint8Array {
  const seconds = new Uint8Array(8);
  new DataView(seconds.buffer).setBigUint64(0, BigInt(Math.floor(challenge.timestamp / 1000)), true);
  return concatBytes([challenge.nonce, encodeUtf8(challenge.challengerId), seconds]);
}

/** Answers a challenge with the device's key. */
export async function answerChallenge(identity: NodeIdentity, challenge: DeviceChallenge): Promise<DeviceChallengeResponse> {
  return { nonce: challenge.nonce, publicKey: identity.publicKey, signature: await identity.sign(challengeSigningInput(challenge)) };
}

/** Issues challenges and verifies their answers; remembers only outstanding nonces (bounded). */
export class DeviceChallenger {
  private readonly outstanding = new Map<string, DeviceChallenge>();
  private readonly clock: Clock;
  private readonly random: RandomSource;

  constructor(
    private readonly challengerId: string,
    options: { clock?: Clock; random?: RandomSource; ttlMs?: number; maxOutstanding?: number } = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.maxOutstanding = options.maxOutstanding ?? 10_000;
  }
  private readonly ttlMs: number;
  private readonly maxOutstanding: number;

  issue(): DeviceChallenge {
    const now = this.clock.now();
    for (const [k, c] of this.outstanding) if (c.expiresAt < now || this.outstanding.size >= this.maxOutstanding) this.outstanding.delete(k);
    const c: DeviceChallenge = { nonce: this.random.bytes(32), challengerId: this.challengerId, timestamp: now, expiresAt: now + this.ttlMs };
    this.outstanding.set(toHex(c.nonce), c);
    return c;
  }

  /**
   * Verifies an answer and returns the responder's DeviceId. The nonce is spent whatever the outcome.
   * @throws PeatError `REPLAY_DETECTED` (a nonce we did not issue or already used), `TOKEN_EXPIRED`,
   * `SIGNATURE_INVALID`.
   */
  verify(response: DeviceChallengeResponse): string {
    const id = toHex(response.nonce);
    const challenge = this.outstanding.get(id);
    if (!challenge) throw new PeatError('REPLAY_DETECTED', 'unknown or already used challenge nonce');
    this.outstanding.delete(id);
    if (this.clock.now() > challenge.expiresAt) throw new PeatError('TOKEN_EXPIRED', 'challenge expired');
    if (!verifyEd25519(response.publicKey, challengeSigningInput(challenge), response.signature)) {
      throw new PeatError('SIGNATURE_INVALID', 'challenge response signature does not verify');
    }
    return deviceIdFromPublicKey(response.publicKey);
  }
}
