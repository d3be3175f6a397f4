// SPDX-License-Identifier: Apache-2.0
// The authenticated key exchange of session mode (a SIGMA-style exchange, as in TLS 1.3 and IKEv2): each side sends
// a fresh X25519 key signed with its identity key; the signatures cover both node ids and, for the reply, the hash of
// the first message; the directional keys come from HKDF over the shared secret salted with the transcript hash.
// A third message proves to the responder that the initiator derived the same keys. The first message offers AEAD
// suites and the reply names the one chosen, both under the signatures and in the transcript the keys come from, so
// an attacker cannot move the pair to a suite neither side preferred.
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { type Clock, type RandomSource } from '@ecps/core';
import { TrustError } from './errors';
import type { IdentitySigner } from './identity';
import type { KeyDirectory } from './key-directory';
import { concat } from './key-encoding';
import type { ReplayGuard } from './replay-guard';
import { availableSessionSuites, resolveSuites, sessionSuiteById, type SessionSuiteName } from './session-suite';
import { WireReader, WireWriter } from './session-wire';

/** 2: the first message offers suites, the reply names one. */
const VERSION = 2;
/** Suites a first message may offer. */
const MAX_OFFERED_SUITES = 8;
const KIND_INIT = 1;
const KIND_REPLY = 2;
const KIND_CONFIRM = 3;
const INIT_LABEL = Buffer.from('ecps-session-init-v1');
const REPLY_LABEL = Buffer.from('ecps-session-reply-v1');
const KEYS_INFO = Buffer.from('ecps-session-keys-v1');
const CONFIRM_LABEL = Buffer.from('ecps-session-confirm-v1');
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
/** Bytes of a session id. */
export const SESSION_ID_BYTES = 8;

/** Keys of one session as one side sees them. */
export interface SessionKeys {
  readonly sessionId: Uint8Array;
  readonly peerId: string;
  /** The identity key the peer signed the exchange with (revoking it ends the session). */
  readonly peerKeyId: string;
  readonly role: 'initiator' | 'responder';
  /** The AEAD both sides agreed on. */
  readonly suite: SessionSuiteName;
  /** Key of epoch 0 of what this side sends. */
  readonly sendKey: Uint8Array;
  /** Key of epoch 0 of what this side receives. */
  readonly receiveKey: Uint8Array;
}

/** The kind of a handshake message, read from its first two bytes. @throws TrustError `DECODE_ERROR`. */
export function handshakeKind(message: Uint8Array): 'init' | 'reply' | 'confirm' {
  const r = new WireReader(message);
  if (r.u8() !== VERSION) throw new TrustError('DECODE_ERROR', 'unknown session handshake version');
  const kind = r.u8();
  if (kind === KIND_INIT) return 'init';
  if (kind === KIND_REPLY) return 'reply';
  if (kind === KIND_CONFIRM) return 'confirm';
  throw new TrustError('DECODE_ERROR', `unknown session handshake message ${kind}`);
}

/** What an initiator keeps between its first message and the reply. */
export interface PendingHandshake {
  readonly peerId: string;
  readonly init: Uint8Array;
  readonly ephemeral: KeyObject;
  /** Wire ids of the suites offered. */
  readonly offered: readonly number[];
}

/** Derived material of a completed exchange. */
interface Derived {
  sessionId: Uint8Array;
  i2r: Uint8Array;
  r2i: Uint8Array;
  confirmKey: Uint8Array;
}

/** A fresh ephemeral X25519 key pair from the (injectable) random source. */
function ephemeralKey(random: RandomSource): { privateKey: KeyObject; publicKey: Uint8Array } {
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, random.bytes(32)]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' })).subarray(-32) };
}

function derive(ephemeral: KeyObject, peerPublic: Uint8Array, init: Uint8Array, replyBody: Uint8Array): Derived {
  let shared: Buffer;
  try {
    const peer = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, peerPublic]), format: 'der', type: 'spki' });
    shared = diffieHellman({ privateKey: ephemeral, publicKey: peer }); // OpenSSL refuses low-order points (all-zero secret)
  } catch (cause) {
    throw new TrustError('UNAUTHENTICATED', 'invalid ephemeral key in session handshake', { cause, details: { reason: 'bad-ephemeral' } });
  }
  const transcript = createHash('sha256').update(init).update(replyBody).digest();
  const okm = new Uint8Array(hkdfSync('sha256', shared, transcript, KEYS_INFO, 32 * 3 + SESSION_ID_BYTES));
  shared.fill(0);
  return { i2r: okm.slice(0, 32), r2i: okm.slice(32, 64), confirmKey: okm.slice(64, 96), sessionId: okm.slice(96) };
}

async function signed(w: WireWriter, label: Uint8Array, signer: IdentitySigner): Promise<{ body: Uint8Array; message: Uint8Array }> {
  const body = w.str(signer.keyId).str(await signer.algorithm()).finish();
  const signature = await signer.sign(concat(label, body));
  return { body, message: concat(body, new WireWriter().blob(signature).finish()) };
}

/** Checks the trailing signature of `message` (whose body ends at the reader's offset) for `principal`. */
function verifySigned(r: WireReader, label: Uint8Array, keys: KeyDirectory, principal: string): { body: Uint8Array; keyId: string } {
  const keyId = r.str();
  const alg = r.str();
  const body = r.data.subarray(0, r.offset);
  const signature = r.blob();
  r.end();
  const key = keys.verify(keyId, concat(label, body), signature, alg);
  if (key.principalId !== principal) {
    throw new TrustError('UNAUTHENTICATED', `handshake for ${principal} signed by ${key.principalId}`, { details: { reason: 'identity-mismatch', expected: principal, signer: key.principalId } });
  }
  return { body, keyId };
}

function checkVersion(r: WireReader, kind: number): void {
  if (r.u8() !== VERSION || r.u8() !== kind) throw new TrustError('DECODE_ERROR', 'not the expected session handshake message');
}

/**
 * First message, from `signer`'s node `selfId` to `peerId`, offering `suites` (in order of preference; default
 * every available one).
 * @throws TrustError `CONFIG_INVALID` for an empty or repeating list, `MECHANISM_UNSUPPORTED` for a suite that
 *   cannot run here.
 */
export async function createHandshakeInit(
  selfId: string,
  peerId: string,
  signer: IdentitySigner,
  clock: Clock,
  random: RandomSource,
  suites: readonly SessionSuiteName[] = availableSessionSuites(),
): Promise<PendingHandshake> {
  const offered = resolveSuites(suites).map((suite) => suite.id);
  const ephemeral = ephemeralKey(random);
  const w = new WireWriter().u8(VERSION).u8(KIND_INIT).str(selfId).str(peerId).bytes(ephemeral.publicKey).bytes(random.bytes(16)).f64(clock.now());
  w.u8(offered.length).bytes(Uint8Array.from(offered));
  const { message } = await signed(w, INIT_LABEL, signer);
  return { peerId, init: message, ephemeral: ephemeral.privateKey, offered };
}

/**
 * The responder's side: checks the first message (addressed to `selfId`, signed by the key of the node it names,
 * fresh and not seen before), picks the first of its own `suites` (default every available one) that the
 * initiator offered, and answers it.
 * @throws TrustError `DECODE_ERROR`, `WRONG_RECIPIENT`, `KEY_NOT_FOUND`, `KEY_REVOKED`, `SIGNATURE_INVALID`,
 *   `UNAUTHENTICATED` (signed by another node's key, invalid ephemeral key), `STALE_MESSAGE`, `REPLAY_DETECTED`,
 *   `MECHANISM_UNSUPPORTED` (no suite in common; `details.offered` lists the initiator's wire ids).
 */
export async function respondToHandshake(
  init: Uint8Array,
  selfId: string,
  signer: IdentitySigner,
  keys: KeyDirectory,
  freshness: ReplayGuard,
  random: RandomSource,
  suites: readonly SessionSuiteName[] = availableSessionSuites(),
): Promise<{ reply: Uint8Array; keys: SessionKeys; confirmKey: Uint8Array }> {
  const r = new WireReader(init);
  checkVersion(r, KIND_INIT);
  const initiatorId = r.str();
  const responderId = r.str();
  const peerPublic = r.bytes(32);
  const nonce = r.bytes(16);
  const timestampMs = r.f64();
  const offeredCount = r.u8();
  if (offeredCount === 0 || offeredCount > MAX_OFFERED_SUITES) throw new TrustError('DECODE_ERROR', `handshake offers ${offeredCount} suites`);
  const offered = [...r.bytes(offeredCount)];
  if (responderId !== selfId) throw new TrustError('WRONG_RECIPIENT', `handshake for ${responderId} arrived at ${selfId}`, { details: { intended: responderId, arrived: selfId } });
  const { keyId: peerKeyId } = verifySigned(r, INIT_LABEL, keys, initiatorId);
  if (!Number.isFinite(timestampMs)) throw new TrustError('DECODE_ERROR', 'handshake timestamp is not a number');
  freshness.check(initiatorId, nonce, BigInt(Math.round(timestampMs)) * 1_000_000n);
  const suite = resolveSuites(suites).find((s) => offered.includes(s.id));
  if (!suite) {
    throw new TrustError('MECHANISM_UNSUPPORTED', `${initiatorId} offers no session suite ${selfId} accepts (${suites.join(', ')})`, {
      details: { reason: 'no-common-suite', offered },
    });
  }
  const ephemeral = ephemeralKey(random);
  const initHash = createHash('sha256').update(init).digest();
  const w = new WireWriter().u8(VERSION).u8(KIND_REPLY).str(initiatorId).str(selfId).bytes(ephemeral.publicKey).bytes(initHash).u8(suite.id);
  const { body, message } = await signed(w, REPLY_LABEL, signer);
  const d = derive(ephemeral.privateKey, peerPublic, init, body);
  return {
    reply: message,
    confirmKey: d.confirmKey,
    keys: { sessionId: d.sessionId, peerId: initiatorId, peerKeyId, role: 'responder', suite: suite.name, sendKey: d.r2i, receiveKey: d.i2r },
  };
}

/**
 * The initiator's side: checks the reply against what it sent and derives the keys; returns the confirmation to send.
 * @throws TrustError `DECODE_ERROR`, `UNAUTHENTICATED` (not a reply to this handshake, signed by another node's key),
 *   `KEY_NOT_FOUND`, `KEY_REVOKED`, `SIGNATURE_INVALID`, `MECHANISM_UNSUPPORTED` (the reply names a suite this node
 *   did not offer).
 */
export function completeHandshake(pending: PendingHandshake, reply: Uint8Array, selfId: string, keys: KeyDirectory): { keys: SessionKeys; confirm: Uint8Array } {
  const r = new WireReader(reply);
  checkVersion(r, KIND_REPLY);
  const initiatorId = r.str();
  const responderId = r.str();
  const peerPublic = r.bytes(32);
  const initHash = r.bytes(32);
  const suiteId = r.u8();
  if (initiatorId !== selfId || responderId !== pending.peerId || !timingSafeEqual(initHash, createHash('sha256').update(pending.init).digest())) {
    throw new TrustError('UNAUTHENTICATED', 'session handshake reply does not answer this handshake', { details: { reason: 'not-our-handshake' } });
  }
  const { body, keyId: peerKeyId } = verifySigned(r, REPLY_LABEL, keys, responderId);
  const suite = pending.offered.includes(suiteId) ? sessionSuiteById(suiteId) : undefined;
  if (!suite) throw new TrustError('MECHANISM_UNSUPPORTED', `${responderId} chose session suite ${suiteId}, which was not offered`, { details: { reason: 'suite-not-offered', suite: suiteId } });
  const d = derive(pending.ephemeral, peerPublic, pending.init, body);
  const confirm = new WireWriter()
    .u8(VERSION)
    .u8(KIND_CONFIRM)
    .str(selfId)
    .str(responderId)
    .bytes(d.sessionId)
    .bytes(createHmac('sha256', d.confirmKey).update(CONFIRM_LABEL).digest())
    .finish();
  return { confirm, keys: { sessionId: d.sessionId, peerId: responderId, peerKeyId, role: 'initiator', suite: suite.name, sendKey: d.i2r, receiveKey: d.r2i } };
}

/** The parts of a confirmation the responder looks the session up by. @throws TrustError `DECODE_ERROR`. */
export function readConfirm(confirm: Uint8Array): { initiatorId: string; responderId: string; sessionId: Uint8Array; mac: Uint8Array } {
  const r = new WireReader(confirm);
  checkVersion(r, KIND_CONFIRM);
  const out = { initiatorId: r.str(), responderId: r.str(), sessionId: r.bytes(SESSION_ID_BYTES), mac: r.bytes(32) };
  r.end();
  return out;
}

/** Whether `mac` proves knowledge of the session's keys. */
export function confirmationValid(confirmKey: Uint8Array, mac: Uint8Array): boolean {
  return timingSafeEqual(mac, createHmac('sha256', confirmKey).update(CONFIRM_LABEL).digest());
}
