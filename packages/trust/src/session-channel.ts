// SPDX-License-Identifier: Apache-2.0
// One direction of a session: the session's AEAD suite with a nonce made of (epoch, counter), never reused, and a
// one-way key ratchet to the next epoch after a number of messages or an amount of time (the key of an epoch is HKDF
// of the previous one, which is then erased: traffic of past epochs stays secret if a later key leaks).
import { hkdfSync } from 'node:crypto';
import { systemClock, type Clock } from '@ecps/core';
import { TrustError } from './errors';
import { SESSION_NONCE_BYTES, SESSION_TAG_BYTES, availableSessionSuites, sessionSuite, type SessionAead, type SessionSuite, type SessionSuiteName } from './session-suite';

/** When a direction moves to its next key. */
export interface RekeyPolicy {
  /** Messages sealed under one epoch key. Default 2^30 (well inside the usage limits of either suite for one key). */
  maxMessagesPerEpoch?: number;
  /** Lifetime of one epoch key in ms. Default 600 000 (10 min). */
  epochMs?: number;
  /** Epochs a receiver ratchets forward at most to read one message (a sender idle across many epochs). Default 64. */
  maxSkippedEpochs?: number;
}

export { SESSION_TAG_BYTES };
/** Counters above this end the session (`RESOURCE_EXHAUSTED`): a new handshake is needed. */
export const MAX_SESSION_SEQ = Number.MAX_SAFE_INTEGER;
const MAX_EPOCH = 0xffff_ffff;
const RATCHET_INFO = Buffer.from('ecps-session-ratchet-v1');
const EMPTY = Buffer.alloc(0);

/** The policy with its defaults. @throws TrustError `CONFIG_INVALID` for a value outside its bounds. */
export function resolveRekeyPolicy(policy: RekeyPolicy): Required<RekeyPolicy> {
  const out = { maxMessagesPerEpoch: policy.maxMessagesPerEpoch ?? 2 ** 30, epochMs: policy.epochMs ?? 600_000, maxSkippedEpochs: policy.maxSkippedEpochs ?? 64 };
  if (!(Number.isInteger(out.maxMessagesPerEpoch) && out.maxMessagesPerEpoch >= 1 && out.maxMessagesPerEpoch <= 2 ** 32)) {
    throw new TrustError('CONFIG_INVALID', `maxMessagesPerEpoch ${out.maxMessagesPerEpoch} outside [1, 2^32]`);
  }
  if (!(out.epochMs > 0)) throw new TrustError('CONFIG_INVALID', `epochMs ${out.epochMs} must be positive`);
  if (!(Number.isInteger(out.maxSkippedEpochs) && out.maxSkippedEpochs >= 1 && out.maxSkippedEpochs <= 1024)) {
    throw new TrustError('CONFIG_INVALID', `maxSkippedEpochs ${out.maxSkippedEpochs} outside [1, 1024]`);
  }
  return out;
}

/** The key of the next epoch. */
function ratchet(key: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', key, EMPTY, RATCHET_INFO, 32));
}

/** The suite a channel runs when none is named: the first available one. */
function defaultSuite(): SessionSuite {
  return sessionSuite(availableSessionSuites()[0]!);
}

/**
 * Writes the 12-byte nonce into `into`: epoch (32 bits) then counter (64 bits), big-endian. Unique per key because
 * counters only grow. The buffer may be reused at once: both suites are done with it when their call returns.
 */
function nonceOf(epoch: number, seq: number, into: Buffer): Buffer {
  into.writeUInt32BE(epoch, 0);
  into.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), 4);
  into.writeUInt32BE(seq >>> 0, 8);
  return into;
}

/** A message sealed by a {@link SendChannel}: `ciphertext` ends with the 16-byte tag. */
export interface SealedMessage {
  readonly epoch: number;
  readonly seq: number;
  readonly ciphertext: Uint8Array;
}

/** The sending half of a session direction. Not safe to share between two senders (the counter is the nonce). */
export class SendChannel {
  private readonly policy: Required<RekeyPolicy>;
  private readonly clock: Clock;
  private readonly suite: SessionSuite;
  private raw: Uint8Array;
  private aead: SessionAead;
  private currentEpoch = 0;
  private seq = 0;
  private epochFirstSeq = 0;
  private epochStartedAt: number;
  private readonly nonce = Buffer.allocUnsafe(SESSION_NONCE_BYTES);

  /**
   * @param key 32-byte key of epoch 0 (from the handshake).
   * @param suite the AEAD agreed in the handshake; default the first available one.
   * @throws TrustError `INVALID_ARGUMENT`, `CONFIG_INVALID` (policy), `MECHANISM_UNSUPPORTED` (suite not available).
   */
  constructor(key: Uint8Array, policy: RekeyPolicy = {}, clock: Clock = systemClock, suite?: SessionSuiteName) {
    if (key.length !== 32) throw new TrustError('INVALID_ARGUMENT', 'a session key is 32 bytes');
    this.policy = resolveRekeyPolicy(policy);
    this.clock = clock;
    this.suite = suite === undefined ? defaultSuite() : sessionSuite(suite);
    this.raw = Uint8Array.from(key);
    this.aead = this.suite.key(this.raw);
    this.epochStartedAt = clock.monotonic();
  }

  /** The epoch the next message is sealed under (it may still move on at the next `seal`). */
  get epoch(): number {
    return this.currentEpoch;
  }

  /** Messages sealed so far. */
  get sent(): number {
    return this.seq;
  }

  /**
   * Seals `plaintext` with `aad` under the next counter, moving to the next epoch first when the message count or
   * the age of the current key calls for it.
   * @throws TrustError `RESOURCE_EXHAUSTED` when the counter or the epochs are used up (run a new handshake).
   */
  seal(plaintext: Uint8Array, aad: Uint8Array): SealedMessage {
    const out = new Uint8Array(plaintext.length + SESSION_TAG_BYTES);
    const { epoch, seq } = this.sealInto(plaintext, aad, out, 0);
    return { epoch, seq, ciphertext: out };
  }

  /**
   * Like {@link seal}, but writes the ciphertext and its tag (`plaintext.length + SESSION_TAG_BYTES` bytes) into
   * `out` at `offset`, so that a record of several recipients is built without a copy per recipient.
   * @throws TrustError `RESOURCE_EXHAUSTED` as {@link seal}; nothing is written and no counter is used then.
   */
  sealInto(plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, offset: number): { epoch: number; seq: number } {
    if (this.seq - this.epochFirstSeq >= this.policy.maxMessagesPerEpoch || this.clock.monotonic() - this.epochStartedAt >= this.policy.epochMs) {
      this.advance();
    }
    if (this.seq >= MAX_SESSION_SEQ) throw new TrustError('RESOURCE_EXHAUSTED', 'session counter exhausted: a new handshake is needed');
    const seq = this.seq++;
    this.aead.seal(nonceOf(this.currentEpoch, seq, this.nonce), plaintext, aad, out, offset);
    return { epoch: this.currentEpoch, seq };
  }

  private advance(): void {
    if (this.currentEpoch >= MAX_EPOCH) throw new TrustError('RESOURCE_EXHAUSTED', 'session epochs exhausted: a new handshake is needed');
    const next = ratchet(this.raw);
    this.raw.fill(0);
    this.raw = next;
    this.aead = this.suite.key(next);
    this.currentEpoch++;
    this.epochFirstSeq = this.seq;
    this.epochStartedAt = this.clock.monotonic();
  }
}

interface EpochKey {
  readonly epoch: number;
  readonly raw: Uint8Array;
  readonly aead: SessionAead;
}

/**
 * The receiving half of a session direction. It keeps the current epoch's key and the previous one (for messages
 * reordered across an epoch change) and erases anything older. It does not track replays: a {@link ReplayWindow}
 * per receiving scope does.
 */
export class ReceiveChannel {
  private readonly policy: Required<RekeyPolicy>;
  private readonly suite: SessionSuite;
  private current: EpochKey;
  private previous: EpochKey | undefined;
  private readonly nonce = Buffer.allocUnsafe(SESSION_NONCE_BYTES);

  /** @throws as {@link SendChannel}'s constructor. */
  constructor(key: Uint8Array, policy: RekeyPolicy = {}, suite?: SessionSuiteName) {
    if (key.length !== 32) throw new TrustError('INVALID_ARGUMENT', 'a session key is 32 bytes');
    this.policy = resolveRekeyPolicy(policy);
    this.suite = suite === undefined ? defaultSuite() : sessionSuite(suite);
    const raw = Uint8Array.from(key);
    this.current = { epoch: 0, raw, aead: this.suite.key(raw) };
  }

  /** The newest epoch a message was opened in. */
  get epoch(): number {
    return this.current.epoch;
  }

  /**
   * Opens a message; the key state moves forward only if the message authenticated, so a forged epoch number
   * costs the receiver at most `maxSkippedEpochs` key derivations and changes nothing.
   * @throws TrustError `DECRYPTION_FAILED` (tampered, wrong key or an epoch too far ahead),
   *   `REPLAY_DETECTED` (`details.reason` `old-epoch`: its key is already erased).
   */
  open(message: SealedMessage, aad: Uint8Array): Uint8Array {
    const { epoch, seq, ciphertext } = message;
    if (ciphertext.length < SESSION_TAG_BYTES || !Number.isInteger(seq) || seq < 0 || seq >= MAX_SESSION_SEQ) {
      throw new TrustError('DECRYPTION_FAILED', 'malformed session message');
    }
    if (epoch === this.current.epoch) return decrypt(this.current.aead, message, aad, this.nonce);
    if (epoch === this.previous?.epoch) return decrypt(this.previous.aead, message, aad, this.nonce);
    if (epoch < this.current.epoch) {
      throw new TrustError('REPLAY_DETECTED', `message of epoch ${epoch} arrived after its key was erased (now ${this.current.epoch})`, {
        details: { reason: 'old-epoch', epoch, current: this.current.epoch },
      });
    }
    if (epoch - this.current.epoch > this.policy.maxSkippedEpochs) {
      throw new TrustError('DECRYPTION_FAILED', `epoch ${epoch} is more than ${this.policy.maxSkippedEpochs} ahead of ${this.current.epoch}`);
    }
    let before: Uint8Array = this.current.raw;
    let raw = ratchet(before);
    for (let e = this.current.epoch + 1; e < epoch; e++) {
      before = raw;
      raw = ratchet(raw);
    }
    const aead = this.suite.key(raw);
    const plaintext = decrypt(aead, message, aad, this.nonce);
    // authenticated: move on, keep the epoch just before for stragglers, erase the rest
    const previous: EpochKey = before === this.current.raw ? this.current : { epoch: epoch - 1, raw: before, aead: this.suite.key(before) };
    if (this.previous && this.previous !== previous) this.previous.raw.fill(0);
    if (previous !== this.current) this.current.raw.fill(0);
    this.previous = previous;
    this.current = { epoch, raw, aead };
    return plaintext;
  }
}

function decrypt(aead: SessionAead, { epoch, seq, ciphertext }: SealedMessage, aad: Uint8Array, nonce: Buffer): Uint8Array {
  try {
    return aead.open(nonceOf(epoch, seq, nonce), ciphertext, aad);
  } catch (cause) {
    throw new TrustError('DECRYPTION_FAILED', 'session message does not authenticate', { cause });
  }
}
