// SPDX-License-Identifier: Apache-2.0
// Turning an EcpsEvent into a protected one (signed and/or sealed) and back, with every check of the receiver.
import { cryptoRandom, eventTime, nodeIdFromSource, systemClock, type Clock, type EcpsEvent, type RandomSource } from '@ecps/core';
import { SealedEnvelope, SignedEnvelope, type Delegation, type ProtectedEvent } from '@ecps/proto/ext/v1';
import { TrustError } from './errors';
import { signedInput, type IdentitySigner } from './identity';
import type { KeyAgreementProvider } from './key-agreement';
import type { KeyDirectory } from './key-directory';
import type { ReplayGuard } from './replay-guard';
import { SEALED_EVENT_TYPE, openEnvelope, sealEnvelope, type SealRecipient } from './sealed-envelope';
import type { TrustBehaviour } from './levels';
import { verifyDelegationChain } from './delegation';
import { ProtectedEventScratch, encodeProtectedEvent } from './protected-event-writer';
import { decodeProtectedEvent } from './protected-event-reader';
import { SESSION_EVENT_TYPE, type SessionManager, type SessionReplayScope } from './session-manager';

/** CloudEvents type of a signed (not sealed) message. */
export const SIGNED_EVENT_TYPE = 'ecps.ext.signed';

/** Keys for sealing: the recipient (e.g. a fleet key every member holds) and the provider that can open. */
export interface SealingKeys {
  readonly recipient: SealRecipient;
  readonly provider: KeyAgreementProvider;
}

export interface ProtectorOptions {
  /** This node's principal id. */
  senderId: string;
  signer?: IdentitySigner;
  keys: KeyDirectory;
  sealing?: SealingKeys;
  behaviour: TrustBehaviour;
  /** Session mode: messages are sealed per peer session instead of signed or sealed one by one. */
  session?: SessionManager;
  clock?: Clock;
  random?: RandomSource;
}

/** A verified incoming message. */
export interface Unprotected {
  readonly event: EcpsEvent;
  /** Authenticated sender (the signer), or the claimed sender when signatures are off. */
  readonly senderId: string;
  /** The principal the message acts for (`source`'s node id, or the sender). */
  readonly principalId: string;
  /** Permission filter of a delegation chain, when the sender acts for someone else. */
  readonly delegated?: (action: string, resource: string) => boolean;
}

export class Protector {
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private lastTimeMs = Number.NaN;
  private lastTime = '';
  /** Session mode: where plaintexts are encoded just before they are sealed. */
  private readonly scratch = new ProtectedEventScratch();

  constructor(private readonly options: ProtectorOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    if (options.behaviour.sign && !options.signer) throw new TrustError('CONFIG_INVALID', 'signing requires an identity');
    if (options.behaviour.seal && !options.sealing && !options.session) throw new TrustError('CONFIG_INVALID', 'sealing requires sealing keys');
  }

  /**
   * Wraps `event` for `destination` (a topic, or `request:`/`reply:`/`stream:` + service). In session mode this
   * completes synchronously (no public-key work is left to wait for); otherwise it returns a promise.
   */
  protect(event: EcpsEvent, destination: string, delegations: readonly Delegation[] = NO_DELEGATIONS): EcpsEvent | Promise<EcpsEvent> {
    const body = this.bodyOf(event, destination, delegations);
    // sealed at once: the plaintext can live in reused memory
    if (this.options.session) return this.outer(event, SESSION_EVENT_TYPE, this.options.session.seal(this.scratch.one(body)));
    return this.protectOneByOne(event, encodeProtectedEvent(body));
  }

  /**
   * Session mode: wraps several events for one destination as one record, sealed once per recipient, so that the
   * receiver accepts all of them or none (one authentication tag and one counter cover the batch) and in this order.
   * Returns undefined, sealing nothing, when the bodies together would exceed `maxPlaintextBytes` (send them one by one).
   * @throws TrustError `CONFIG_INVALID` without session mode; `RESOURCE_EXHAUSTED` as {@link SessionManager.seal}.
   */
  protectBatch(events: readonly EcpsEvent[], destination: string, delegations: readonly (readonly Delegation[] | undefined)[], maxPlaintextBytes: number): EcpsEvent | undefined {
    const session = this.options.session;
    if (!session) throw new TrustError('CONFIG_INVALID', 'batched records need session mode');
    const bodies = events.map((event, i) => this.bodyOf(event, destination, delegations[i] ?? NO_DELEGATIONS));
    const plaintext = this.scratch.batch(bodies, BATCH_MARKER, maxPlaintextBytes);
    if (!plaintext) return undefined;
    const first = events[0]!;
    return { id: first.id, source: first.source, type: SESSION_EVENT_TYPE, time: first.time ?? this.now(), datacontenttype: 'application/protobuf', data: session.seal(plaintext) };
  }

  private bodyOf(event: EcpsEvent, destination: string, delegations: readonly Delegation[]): ProtectedEvent {
    return {
      id: event.id,
      source: event.source,
      type: event.type,
      time: event.time ?? '',
      datacontenttype: event.datacontenttype ?? '',
      extensions: (event.extensions ?? NO_EXTENSIONS) as Record<string, string>,
      data: event.data,
      senderId: this.options.senderId,
      timestampNs: this.clock.nowNs(),
      // session messages are replay-checked by their counter
      nonce: this.options.session ? NO_NONCE : this.random.bytes(16),
      destination,
      delegations: delegations as Delegation[],
    };
  }

  private async protectOneByOne(event: EcpsEvent, body: Uint8Array): Promise<EcpsEvent> {
    const { behaviour, senderId } = this.options;
    if (behaviour.seal) {
      const sealed = await sealEnvelope({
        plaintext: body,
        innerType: event.type,
        senderId,
        recipient: this.options.sealing!.recipient,
        ...(behaviour.sign ? { signer: this.options.signer! } : {}),
        clock: this.clock,
        random: this.random,
      });
      return this.outer(event, SEALED_EVENT_TYPE, SealedEnvelope.encode(sealed).finish());
    }
    if (behaviour.sign) return this.outer(event, SIGNED_EVENT_TYPE, SignedEnvelope.encode(await this.options.signer!.envelope(body)).finish());
    return event;
  }

  private outer(event: EcpsEvent, type: string, data: Uint8Array): EcpsEvent {
    const correlation = event.extensions?.['correlationid'];
    // no conditional spread: it copies through a generic path per message
    const outer: Mutable<EcpsEvent> = { id: event.id, source: event.source, type, time: event.time ?? this.now(), datacontenttype: 'application/protobuf', data };
    if (correlation) outer.extensions = { correlationid: correlation };
    return outer;
  }

  /** The current time as a CloudEvents timestamp, formatted once per millisecond. */
  private now(): string {
    const ms = this.clock.now();
    if (ms !== this.lastTimeMs) {
      this.lastTimeMs = ms;
      this.lastTime = eventTime(ms);
    }
    return this.lastTime;
  }

  /**
   * Checks and unwraps a received message that arrived on `destination`. `replay` is the nonce cache of the
   * receiving scope (one per subscription, served service or request, so that overlapping subscriptions each see a
   * message once while a replay to any of them is caught); `windows` are that scope's session replay windows.
   * @throws TrustError `UNAUTHENTICATED` (unprotected where protection is required, sender mismatch, bad delegation),
   *   `SIGNATURE_INVALID`, `KEY_NOT_FOUND`, `KEY_REVOKED`, `DECRYPTION_FAILED`, `STALE_MESSAGE`, `REPLAY_DETECTED`,
   *   `WRONG_RECIPIENT` (the message was made for another topic, service or request), `DECODE_ERROR`; in session
   *   mode also those of {@link SessionManager.open}.
   */
  async unprotect(outer: EcpsEvent, destination: string, replay: ReplayGuard, windows?: SessionReplayScope): Promise<Unprotected> {
    return this.unprotectNow(outer, destination, replay, windows);
  }

  /**
   * {@link unprotect} without a promise where none is needed: a session message is checked synchronously (and its
   * errors thrown); the other kinds return a promise. A batched session record is refused here (`DECODE_ERROR`):
   * only subscriptions take them, through {@link unprotectMany}.
   */
  unprotectNow(outer: EcpsEvent, destination: string, replay: ReplayGuard, windows?: SessionReplayScope): Unprotected | Promise<Unprotected> {
    if (outer.type !== SESSION_EVENT_TYPE) return this.unprotectOneByOne(outer, destination, replay);
    const { plaintext, senderId } = this.openSession(outer, windows);
    if (plaintext[0] === BATCH_MARKER) throw new TrustError('DECODE_ERROR', `batched session record ${outer.id} where one message is expected`);
    return this.unwrap(outer, plaintext, senderId, senderId, destination, replay);
  }

  /**
   * Like {@link unprotectNow}, and also takes a batched session record (see {@link protectBatch}): its messages in
   * order, all checked before any is returned, so that one bad message refuses the whole record.
   * @throws as {@link unprotect}; `DECODE_ERROR` for a malformed batch (empty, truncated, over {@link MAX_SESSION_BATCH}).
   */
  unprotectMany(outer: EcpsEvent, destination: string, replay: ReplayGuard, windows?: SessionReplayScope): Unprotected | readonly Unprotected[] | Promise<Unprotected> {
    if (outer.type !== SESSION_EVENT_TYPE) return this.unprotectOneByOne(outer, destination, replay);
    const { plaintext, senderId } = this.openSession(outer, windows);
    if (plaintext[0] !== BATCH_MARKER) return this.unwrap(outer, plaintext, senderId, senderId, destination, replay);
    const bytes = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.length);
    const out: Unprotected[] = [];
    let at = 1;
    while (at < bytes.length) {
      if (out.length === MAX_SESSION_BATCH || at + 4 > bytes.length) throw new TrustError('DECODE_ERROR', `malformed batched session record ${outer.id}`);
      const end = at + 4 + bytes.readUInt32BE(at);
      if (end > bytes.length) throw new TrustError('DECODE_ERROR', `truncated batched session record ${outer.id}`);
      out.push(this.unwrap(outer, plaintext.subarray(at + 4, end), senderId, senderId, destination, replay));
      at = end;
    }
    if (out.length === 0) throw new TrustError('DECODE_ERROR', `empty batched session record ${outer.id}`);
    return out;
  }

  private openSession(outer: EcpsEvent, windows: SessionReplayScope | undefined): { senderId: string; plaintext: Uint8Array } {
    if (!this.options.session || !windows) throw new TrustError('UNAUTHENTICATED', `session message ${outer.id} but session mode is off`);
    return this.options.session.open(outer.data, windows);
  }

  private async unprotectOneByOne(outer: EcpsEvent, destination: string, replay: ReplayGuard): Promise<Unprotected> {
    const { behaviour, keys } = this.options;
    let body: Uint8Array;
    let signerPrincipal: string | undefined;
    let claimedSender: string;
    if (outer.type === SEALED_EVENT_TYPE) {
      if (!this.options.sealing) throw new TrustError('DECRYPTION_FAILED', 'sealed message but no sealing key configured');
      const env = decode(SealedEnvelope, outer.data);
      claimedSender = env.senderId;
      body = await openEnvelope(env, {
        provider: this.options.sealing.provider,
        requireSignature: behaviour.sign,
        verifySignature: async (e, input) => {
          signerPrincipal = keys.verify(e.signerKeyId, input, e.signature).principalId;
        },
      });
    } else if (outer.type === SIGNED_EVENT_TYPE) {
      if (behaviour.seal) throw new TrustError('UNAUTHENTICATED', `unsealed message ${outer.id} where sealing is required`);
      const env = decode(SignedEnvelope, outer.data);
      signerPrincipal = keys.verify(env.keyId, signedInput(env.body), env.signature, env.alg).principalId;
      body = env.body;
      claimedSender = signerPrincipal;
    } else {
      throw new TrustError('UNAUTHENTICATED', `unprotected message ${outer.id} of type ${outer.type}`);
    }
    return this.unwrap(outer, body, claimedSender, signerPrincipal, destination, replay);
  }

  /** The checks every kind shares once the body is out: sender binding, replay, destination, delegation. */
  private unwrap(outer: EcpsEvent, body: Uint8Array, claimedSender: string, signerPrincipal: string | undefined, destination: string, replay: ReplayGuard): Unprotected {
    const { behaviour, keys } = this.options;
    const inner = decode(PROTECTED_EVENT, body);
    if (inner.senderId !== claimedSender) throw new TrustError('UNAUTHENTICATED', `envelope sender ${claimedSender} differs from ${inner.senderId}`);
    if (signerPrincipal !== undefined && signerPrincipal !== inner.senderId) {
      throw new TrustError('UNAUTHENTICATED', `signed by ${signerPrincipal} but claims to be ${inner.senderId}`);
    }
    if (behaviour.sign && signerPrincipal === undefined) throw new TrustError('UNAUTHENTICATED', `unsigned message from ${inner.senderId}`);
    if (outer.type === SESSION_EVENT_TYPE) replay.checkTime(inner.senderId, inner.timestampNs);
    else replay.check(inner.senderId, inner.nonce, inner.timestampNs);
    if (inner.destination !== destination) {
      throw new TrustError('WRONG_RECIPIENT', `message for ${inner.destination} arrived on ${destination}`, {
        details: { intended: inner.destination, arrived: destination },
      });
    }
    const sourceId = nodeIdFromSource(inner.source) ?? inner.senderId;
    let delegated: Unprotected['delegated'];
    if (behaviour.sign && sourceId !== inner.senderId) {
      delegated = verifyDelegationChain(inner.delegations, sourceId, inner.senderId, keys, this.clock);
    }
    // the decoded message is this call's own: its extensions object is handed on without a copy
    let extensions = inner.extensions;
    const correlation = outer.extensions?.['correlationid'];
    if (correlation !== undefined && extensions['correlationid'] === undefined) extensions = { ...extensions, correlationid: correlation };
    const event: Mutable<EcpsEvent> = { id: inner.id, source: inner.source, type: inner.type, data: inner.data };
    if (inner.time) event.time = inner.time;
    if (inner.datacontenttype) event.datacontenttype = inner.datacontenttype;
    for (const _ in extensions) {
      event.extensions = extensions;
      break;
    }
    const out: Mutable<Unprotected> = { event, senderId: inner.senderId, principalId: behaviour.sign ? sourceId : inner.senderId };
    if (delegated) out.delegated = delegated;
    return out;
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Messages one batched session record carries at most. */
export const MAX_SESSION_BATCH = 64;
/**
 * First plaintext byte of a batched session record (then per message: u32 length, ProtectedEvent). A single
 * ProtectedEvent never starts with it: no protobuf field has number 0. Being inside the plaintext, it is authenticated.
 */
const BATCH_MARKER = 0;
const NO_NONCE = new Uint8Array(0);
const NO_DELEGATIONS: readonly Delegation[] = Object.freeze([]);
const NO_EXTENSIONS: Readonly<Record<string, string>> = Object.freeze({});
const PROTECTED_EVENT = { decode: decodeProtectedEvent };

function decode<T>(fns: { decode(bytes: Uint8Array): T }, data: Uint8Array): T {
  try {
    return fns.decode(data);
  } catch (cause) {
    throw new TrustError('DECODE_ERROR', 'malformed protected message', { cause });
  }
}
