// SPDX-License-Identifier: Apache-2.0
// The formation-key handshake, made mutual (spec §8.2): both sides prove they hold the formation secret (HMAC
// over a role-tagged transcript) and their node key (Ed25519 over the same transcript), nonces are never accepted
// twice, each node id must be the DeviceId of the key it presents, and certificates are checked when configured.
// Plus the reference's legacy one-way response, for compatibility only.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { cryptoRandom, systemClock } from '@ecps/core';
import type { Clock, RandomSource } from '@ecps/core';
import { ByteReader, ByteWriter, concatBytes, encodeUtf8, lp } from '../bytes';
import { PeatError } from '../errors';
import { deviceIdFromPublicKey, hkdf, sha256, verifyEd25519 } from './ed25519';
import type { NodeIdentity } from './identity';
import { NonceCache } from './replay-cache';

/** Decodes a base64 formation secret; one that is not exactly 32 bytes is hashed with SHA-256 (the reference rule). */
export function formationIkm(secretBase64: string): Uint8Array {
  const decoded = new Uint8Array(Buffer.from(secretBase64, 'base64'));
  return decoded.length === 32 ? decoded : sha256(decoded);
}

/** `HKDF-SHA256(salt = formation_id, ikm = secret, info = "peat-protocol-v1-formation", L = 32)`. */
export function formationKey(formationId: string, secretBase64: string): Uint8Array {
  return hkdf(formationIkm(secretBase64), encodeUtf8(formationId), 'peat-protocol-v1-formation', 32);
}

/** The bytes both proofs cover; `role` 'R' (responder) or 'I' (initiator). */
export function handshakeTranscript(
  role: 'R' | 'I',
  formationId: string,
  nodeIdI: string,
  nodeIdR: string,
  nonceI: Uint8Array,
  nonceR: Uint8Array,
): Uint8Array {
  return concatBytes([encodeUtf8('peat-mutual-v1'), new Uint8Array([role.charCodeAt(0)]), lp(formationId), lp(nodeIdI), lp(nodeIdR), nonceI, nonceR]);
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(data).digest());
}

/** [C] The reference's one-way response: `HMAC(hmac_key, nonce ‖ formation_id)`. */
export function legacyHandshakeResponse(hmacKey: Uint8Array, nonce: Uint8Array, formationId: string): Uint8Array {
  return hmacSha256(hmacKey, concatBytes([nonce, encodeUtf8(formationId)]));
}

function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export const HandshakeStep = { Hello: 1, Challenge: 2, Response: 3, Result: 4 } as const;

export interface Hello {
  readonly formationId: string;
  readonly nodeId: string;
  readonly nonce: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly certificate?: Uint8Array;
}
export interface Challenge extends Hello {
  readonly mac: Uint8Array;
  readonly signature: Uint8Array;
}
export interface Response {
  readonly mac: Uint8Array;
  readonly signature: Uint8Array;
}

function writeCert(w: ByteWriter, cert: Uint8Array | undefined): void {
  w.lp(cert ?? new Uint8Array(0));
}
function readCert(r: ByteReader): Uint8Array | undefined {
  const c = r.lp('certificate');
  return c.length === 0 ? undefined : c;
}

export function encodeHello(h: Hello): Uint8Array {
  const w = new ByteWriter();
  w.u8(HandshakeStep.Hello).u8(1).lp(h.formationId).lp(h.nodeId).bytes(h.nonce).bytes(h.publicKey);
  writeCert(w, h.certificate);
  return w.finish();
}
export function encodeChallenge(c: Challenge): Uint8Array {
  const w = new ByteWriter();
  w.u8(HandshakeStep.Challenge).lp(c.formationId).lp(c.nodeId).bytes(c.nonce).bytes(c.publicKey);
  writeCert(w, c.certificate);
  w.bytes(c.mac).bytes(c.signature);
  return w.finish();
}
export function encodeResponse(r: Response): Uint8Array {
  return new ByteWriter().u8(HandshakeStep.Response).bytes(r.mac).bytes(r.signature).finish();
}
export function encodeResult(accepted: boolean): Uint8Array {
  return new Uint8Array([HandshakeStep.Result, accepted ? 0x01 : 0x00]);
}

/** A decoded handshake message. @throws PeatError `DECODE_ERROR`, `UNSUPPORTED_VERSION`. */
export type HandshakeMessage =
  | { readonly step: typeof HandshakeStep.Hello; readonly hello: Hello }
  | { readonly step: typeof HandshakeStep.Challenge; readonly challenge: Challenge }
  | { readonly step: typeof HandshakeStep.Response; readonly response: Response }
  | { readonly step: typeof HandshakeStep.Result; readonly accepted: boolean };

export function decodeHandshake(bytes: Uint8Array): HandshakeMessage {
  const r = new ByteReader(bytes);
  const step = r.u8('handshake step');
  let out: HandshakeMessage;
  if (step === HandshakeStep.Hello) {
    const v = r.u8('version');
    if (v !== 1) throw new PeatError('UNSUPPORTED_VERSION', `handshake version ${v}`);
    const hello = { formationId: r.lpString('formation id'), nodeId: r.lpString('node id'), nonce: r.bytes(32, 'nonce'), publicKey: r.bytes(32, 'public key') };
    const certificate = readCert(r);
    out = { step, hello: certificate ? { ...hello, certificate } : hello };
  } else if (step === HandshakeStep.Challenge) {
    const base = { formationId: r.lpString('formation id'), nodeId: r.lpString('node id'), nonce: r.bytes(32, 'nonce'), publicKey: r.bytes(32, 'public key') };
    const certificate = readCert(r);
    const challenge = { ...base, ...(certificate ? { certificate } : {}), mac: r.bytes(32, 'mac'), signature: r.bytes(64, 'signature') };
    out = { step, challenge };
  } else if (step === HandshakeStep.Response) {
    out = { step, response: { mac: r.bytes(32, 'mac'), signature: r.bytes(64, 'signature') } };
  } else if (step === HandshakeStep.Result) {
    const v = r.u8('result');
    if (v > 1) throw new PeatError('DECODE_ERROR', `bad handshake result ${v}`);
    out = { step, accepted: v === 1 };
  } else {
    throw new PeatError('DECODE_ERROR', `unknown handshake step ${step}`);
  }
  r.end('handshake message');
  return out;
}

/** Checks a peer's certificate (§8.3) for its key and node id; throws `UNAUTHENTICATED` when it does not hold. */
export type CertificateCheck = (certificate: Uint8Array | undefined, publicKey: Uint8Array, nodeId: string) => void;

export interface HandshakeOptions {
  readonly formationId: string;
  /** Base64 formation secret. */
  readonly formationSecret: string;
  readonly identity: NodeIdentity;
  /** Our certificate, sent in Hello and Challenge. */
  readonly certificate?: Uint8Array;
  /** Validates the peer's certificate; absent = certificates are not required. */
  readonly checkCertificate?: CertificateCheck;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** How long a nonce is remembered. Default 5 min. */
  readonly nonceTtlMs?: number;
}

/** An initiator's pending handshake. */
export interface InitiatorState {
  readonly hello: Hello;
}
/** A responder's pending handshake. */
export interface ResponderState {
  readonly hello: Hello;
  readonly challenge: Challenge;
}

/** The peer a finished handshake proved. */
export interface AuthenticatedPeer {
  readonly nodeId: string;
  readonly publicKey: Uint8Array;
  readonly certificate?: Uint8Array;
}

function reject(message: string, code: 'UNAUTHENTICATED' | 'REPLAY_DETECTED' = 'UNAUTHENTICATED'): never {
  throw new PeatError(code, `authentication failed: ${message}`);
}

/**
 * Both roles of the mutual handshake for one node. Stateless per session apart from the shared nonce cache:
 * callers keep the returned state between steps (and drop it after the 30 s step timeout).
 */
export class MutualHandshake {
  private readonly key: Uint8Array;
  private readonly nonces: NonceCache;
  private readonly random: RandomSource;

  constructor(private readonly options: HandshakeOptions) {
    this.key = formationKey(options.formationId, options.formationSecret);
    this.random = options.random ?? cryptoRandom;
    this.nonces = new NonceCache(options.clock ?? systemClock, options.nonceTtlMs);
  }

  get nodeId(): string {
    return this.options.identity.nodeId;
  }

  private ownHello(): Hello {
    const nonce = this.random.bytes(32);
    this.nonces.remember(nonce);
    const base = { formationId: this.options.formationId, nodeId: this.options.identity.nodeId, nonce, publicKey: this.options.identity.publicKey };
    return this.options.certificate ? { ...base, certificate: this.options.certificate } : base;
  }

  private checkPeer(p: Hello): void {
    if (p.formationId !== this.options.formationId) reject('formation ids differ');
    if (p.nodeId !== deviceIdFromPublicKey(p.publicKey)) reject('node id is not the DeviceId of the presented key');
    if (p.nodeId === this.options.identity.nodeId) reject('a node cannot handshake with itself');
    if (!this.nonces.remember(p.nonce)) reject('replayed nonce', 'REPLAY_DETECTED');
    this.options.checkCertificate?.(p.certificate, p.publicKey, p.nodeId);
  }

  /** Step 1 (initiator): the Hello to send. */
  initiate(): { state: InitiatorState; message: Uint8Array } {
    const hello = this.ownHello();
    return { state: { hello }, message: encodeHello(hello) };
  }

  /**
   * Step 2 (responder): checks a Hello and answers with a Challenge carrying our MAC and signature.
   * @throws PeatError `UNAUTHENTICATED`, `REPLAY_DETECTED`.
   */
  async respond(hello: Hello): Promise<{ state: ResponderState; message: Uint8Array }> {
    this.checkPeer(hello);
    const own = this.ownHello();
    const t = handshakeTranscript('R', this.options.formationId, hello.nodeId, own.nodeId, hello.nonce, own.nonce);
    const challenge: Challenge = { ...own, mac: hmacSha256(this.key, t), signature: await this.options.identity.sign(t) };
    return { state: { hello, challenge }, message: encodeChallenge(challenge) };
  }

  /**
   * Step 3 (initiator): verifies the responder's MAC and signature, then proves ourselves. Resolves the Response
   * to send and the authenticated responder. @throws PeatError `UNAUTHENTICATED`, `REPLAY_DETECTED`.
   */
  async complete(state: InitiatorState, challenge: Challenge): Promise<{ message: Uint8Array; peer: AuthenticatedPeer }> {
    this.checkPeer(challenge);
    const { hello } = state;
    const tR = handshakeTranscript('R', this.options.formationId, hello.nodeId, challenge.nodeId, hello.nonce, challenge.nonce);
    if (!macEqual(hmacSha256(this.key, tR), challenge.mac)) reject('responder MAC does not verify (different formation secret?)');
    if (!verifyEd25519(challenge.publicKey, tR, challenge.signature)) reject('responder signature does not verify');
    const tI = handshakeTranscript('I', this.options.formationId, hello.nodeId, challenge.nodeId, hello.nonce, challenge.nonce);
    const message = encodeResponse({ mac: hmacSha256(this.key, tI), signature: await this.options.identity.sign(tI) });
    return { message, peer: peerOf(challenge) };
  }

  /** Step 4 (responder): verifies the initiator's proofs. @throws PeatError `UNAUTHENTICATED`. */
  accept(state: ResponderState, response: Response): AuthenticatedPeer {
    const { hello, challenge } = state;
    const tI = handshakeTranscript('I', this.options.formationId, hello.nodeId, challenge.nodeId, hello.nonce, challenge.nonce);
    if (!macEqual(hmacSha256(this.key, tI), response.mac)) reject('initiator MAC does not verify (different formation secret?)');
    if (!verifyEd25519(hello.publicKey, tI, response.signature)) reject('initiator signature does not verify');
    return peerOf(hello);
  }
}

function peerOf(h: Hello): AuthenticatedPeer {
  const base = { nodeId: h.nodeId, publicKey: new Uint8Array(h.publicKey) };
  return h.certificate ? { ...base, certificate: new Uint8Array(h.certificate) } : base;
}
