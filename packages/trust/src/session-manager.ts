// SPDX-License-Identifier: Apache-2.0
// Session mode of the secure transport: one authenticated key exchange per peer pair (over each node's handshake
// inbox topic), then every message AEAD-sealed once per peer under that pair's directional key. A node re-runs the
// exchange with a sender whose message it cannot read (it restarted, or the sender did), at most once per retry
// interval, so sessions heal without configuration.
import { cryptoRandom, nodeSource, silentLogger, systemClock, uuidv4, type Clock, type EcpsEvent, type Logger, type RandomSource, type Subscription, type Transport } from '@ecps/core';
import { TrustError } from './errors';
import type { IdentitySigner } from './identity';
import type { KeyDirectory } from './key-directory';
import { ReplayGuard } from './replay-guard';
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from './replay-window';
import { ReceiveChannel, SESSION_TAG_BYTES, SendChannel, resolveRekeyPolicy, type RekeyPolicy } from './session-channel';
import { availableSessionSuites, resolveSuites, type SessionSuiteName } from './session-suite';
import {
  SESSION_ID_BYTES,
  completeHandshake,
  confirmationValid,
  createHandshakeInit,
  handshakeKind,
  readConfirm,
  respondToHandshake,
  type PendingHandshake,
  type SessionKeys,
} from './session-handshake';
import { WireReader, WireWriter } from './session-wire';

/** CloudEvents type of a session-sealed message. */
export const SESSION_EVENT_TYPE = 'ecps.ext.session';
/** CloudEvents type of a handshake message. */
export const SESSION_HANDSHAKE_EVENT_TYPE = 'ecps.ext.session.handshake';
/** The topic a node receives handshakes on. */
export function sessionInboxTopic(nodeId: string): string {
  return `ecps/trust/session/${nodeId}`;
}

/** Options of session mode (`secureTransport(inner, { session })`). */
export interface SessionOptions extends RekeyPolicy {
  /** Peers to run the key exchange with at `connect()` (which waits for them); others are reached on first contact. */
  peers?: readonly string[];
  /** Replay window per session direction and receiving scope (messages). Default 1024. */
  replayWindow?: number;
  /** How long a key exchange may take. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** Least time between two exchanges this node starts towards one peer on unreadable messages. Default 1000 ms. */
  retryMs?: number;
  /** Peers holding a session at once; the least recently used one is dropped beyond it. Default 10 000. */
  maxPeers?: number;
  /** Handshakes in flight at once. Default 64. */
  maxPendingHandshakes?: number;
  /** Accepted age (and clock skew) of a first handshake message. Default 300 000 ms. */
  handshakeWindowMs?: number;
  /**
   * AEAD suites this node offers (as initiator) and accepts (as responder), in order of preference; the responder
   * picks its first one the initiator offered. Default every available one: `chacha20-poly1305` (libsodium), then
   * `aes-256-gcm` (node:crypto).
   */
  suites?: readonly SessionSuiteName[];
}

const RECORD_VERSION = 1;
/** Bytes of an entry's header: session id, epoch, counter (u64). */
const ENTRY_HEADER = SESSION_ID_BYTES + 4 + 8;

class Session {
  readonly idKey: string;
  readonly send: SendChannel;
  readonly receive: ReceiveChannel;
  constructor(
    readonly keys: SessionKeys,
    policy: RekeyPolicy,
    clock: Clock,
    /** Whether the peer is known to hold the keys (this node may send under them). */
    public confirmed: boolean,
    readonly confirmKey?: Uint8Array,
  ) {
    this.idKey = Buffer.from(keys.sessionId).toString('hex');
    this.send = new SendChannel(keys.sendKey, policy, clock, keys.suite);
    this.receive = new ReceiveChannel(keys.receiveKey, policy, keys.suite);
  }
}

/** Replay windows of one receiving scope (a subscription, a served service, a request), one per session. */
export class SessionReplayScope {
  private readonly windows = new WeakMap<ReceiveChannel, ReplayWindow>();
  constructor(private readonly size: number = DEFAULT_REPLAY_WINDOW) {}
  /** @internal */
  window(channel: ReceiveChannel): ReplayWindow {
    let w = this.windows.get(channel);
    if (!w) {
      w = new ReplayWindow(this.size);
      this.windows.set(channel, w);
    }
    return w;
  }
}

interface Pending {
  /** Set once the first message is signed. */
  handshake?: PendingHandshake;
  timer?: unknown;
  readonly done: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

export interface SessionManagerOptions {
  readonly selfId: string;
  readonly signer: IdentitySigner;
  readonly keys: KeyDirectory;
  readonly session: SessionOptions;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly logger?: Logger;
  /** Told about every refused handshake message. */
  readonly onReject?: (error: TrustError, event: EcpsEvent) => void;
}

/** Sessions of one node with its peers. Used by the secure transport in session mode. */
export class SessionManager {
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly logger: Logger;
  private readonly policy: RekeyPolicy;
  private readonly freshness: ReplayGuard;
  private readonly suites: readonly SessionSuiteName[];
  /** Receiving sessions by id. */
  private readonly byId = new Map<string, Session>();
  /** Per peer, newest first, at most two (the one in use and the one replacing it). Map order: least recently used first. */
  private readonly byPeer = new Map<string, Session[]>();
  private readonly pending = new Map<string, Pending>();
  private readonly lastAttempt = new Map<string, number>();
  /** Loopback session, so that the node hears itself like the other modes do. */
  private readonly self: Session;
  private hearSelf = false;
  /** Version and sender id, the start of every record this node seals. */
  private readonly recordPrefix: Uint8Array;
  private inner: Transport | undefined;
  private inbox: Subscription | undefined;
  private closed = false;
  /** Caches of {@link open}'s lookups: the last record's sender id and the last session a record was opened with. */
  private lastSender: { readonly bytes: Buffer; readonly id: string } | undefined;
  private lastOpened: Session | undefined;
  /** The peer last moved to the end of `byPeer` by {@link touch}, while it stays there. */
  private lastTouched: string | undefined;

  constructor(private readonly options: SessionManagerOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.logger = options.logger ?? silentLogger;
    const { peers: _p, replayWindow: _r, handshakeTimeoutMs: _h, retryMs: _t, maxPeers: _m, maxPendingHandshakes: _x, handshakeWindowMs, suites, ...policy } = options.session;
    this.policy = policy;
    this.suites = suites ?? availableSessionSuites();
    resolveSuites(this.suites); // refuse an unknown or unavailable suite now
    // refuse a bad policy or window size now rather than at the first exchange or message
    resolveRekeyPolicy(policy);
    new ReplayWindow(options.session.replayWindow ?? DEFAULT_REPLAY_WINDOW);
    this.freshness = new ReplayGuard({ clock: this.clock, windowMs: handshakeWindowMs ?? 300_000 });
    const key = this.random.bytes(32);
    this.self = new Session({ sessionId: this.random.bytes(SESSION_ID_BYTES), peerId: options.selfId, peerKeyId: options.signer.keyId, role: 'initiator', suite: this.suites[0]!, sendKey: key, receiveKey: key }, policy, this.clock, true);
    this.byId.set(this.self.idKey, this.self);
    this.recordPrefix = new WireWriter().u8(RECORD_VERSION).str(options.selfId).finish();
  }

  /** Makes this node include itself as a recipient (it subscribed or serves something). */
  includeSelf(): void {
    this.hearSelf = true;
  }

  /** Peers this node can send to now. */
  get peers(): string[] {
    return [...this.byPeer].filter(([, s]) => s.some((x) => x.confirmed)).map(([peer]) => peer);
  }

  /** The AEAD suite of the session this node sends to `peer` under, if it holds one. */
  suiteWith(peer: string): SessionSuiteName | undefined {
    return this.byPeer.get(peer)?.find((s) => s.confirmed)?.keys.suite;
  }

  /**
   * Listens on this node's handshake inbox over `inner` and starts the exchange with the configured peers without
   * waiting for it (a peer that is not up yet runs it when it starts, if it lists this node, or on its first
   * message from this node). Await {@link handshake} to know a peer is reachable.
   */
  async start(inner: Transport): Promise<void> {
    this.inner = inner;
    this.inbox = await inner.subscribe(sessionInboxTopic(this.options.selfId), (event) => this.onHandshake(event), { qos: 1 });
    for (const peer of this.options.session.peers ?? []) {
      this.handshake(peer).catch((error: unknown) => this.logger.warn('session handshake failed', { peer, error: String(error) }));
    }
  }

  /** Stops listening and cancels handshakes in flight. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [peer, p] of this.pending) {
      this.clock.clearTimeout(p.timer as never);
      p.reject(new TrustError('CANCELLED', `session with ${peer} not established: closed`));
    }
    this.pending.clear();
    await this.inbox?.unsubscribe().catch(() => undefined);
  }

  /**
   * Runs (or joins) a key exchange with `peer`; resolves once this node can send to it.
   * @throws TrustError `TIMEOUT`, `CANCELLED` (closed), `RESOURCE_EXHAUSTED` (too many handshakes in flight),
   *   `KEY_NOT_FOUND`/`SIGNATURE_INVALID`/`UNAUTHENTICATED` when the reply does not prove the peer's identity.
   */
  handshake(peer: string): Promise<void> {
    const existing = this.pending.get(peer);
    if (existing) return existing.done;
    if (this.closed || !this.inner) return Promise.reject(new TrustError('CANCELLED', 'session manager not started or closed'));
    if (this.pending.size >= (this.options.session.maxPendingHandshakes ?? 64)) {
      return Promise.reject(new TrustError('RESOURCE_EXHAUSTED', `too many session handshakes in flight (limit ${this.options.session.maxPendingHandshakes ?? 64})`));
    }
    this.lastAttempt.delete(peer);
    this.lastAttempt.set(peer, this.clock.monotonic());
    if (this.lastAttempt.size > (this.options.session.maxPeers ?? 10_000)) this.lastAttempt.delete(this.lastAttempt.keys().next().value!);
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => undefined); // a caller may not wait for it (handshakes started on unreadable messages)
    const timeoutMs = this.options.session.handshakeTimeoutMs ?? 10_000;
    // registered before anything is awaited, so that concurrent callers join this exchange
    const pending: Pending = { done, resolve, reject };
    this.pending.set(peer, pending);
    pending.timer = this.clock.setTimeout(() => {
      if (this.pending.get(peer) !== pending) return;
      this.pending.delete(peer);
      reject(new TrustError('TIMEOUT', `no session handshake reply from ${peer} within ${timeoutMs} ms`, { details: { peer } }));
    }, timeoutMs);
    const start = async (): Promise<void> => {
      pending.handshake = await createHandshakeInit(this.options.selfId, peer, this.options.signer, this.clock, this.random, this.suites);
      await this.sendHandshake(peer, pending.handshake.init);
    };
    start().catch((error: unknown) => {
      if (this.pending.get(peer) === pending) {
        this.clock.clearTimeout(pending.timer as never);
        this.pending.delete(peer);
      }
      reject(error);
    });
    return done;
  }

  /**
   * Seals `plaintext` once per peer this node holds a confirmed session with (and for itself when it listens).
   * A peer whose session is used up is dropped and a new exchange started (the message goes to the others); one whose
   * identity key was revoked is dropped.
   * @throws TrustError `RESOURCE_EXHAUSTED` when the loopback session is used up.
   */
  seal(plaintext: Uint8Array): Uint8Array {
    const recipients: Session[] = [];
    if (this.hearSelf) recipients.push(this.self);
    for (const sessions of this.byPeer.values()) {
      const s = sessions.find((x) => x.confirmed);
      if (s && !this.revoked(s)) recipients.push(s);
    }
    // one buffer for the whole record, each entry's ciphertext written in place
    const entryBytes = ENTRY_HEADER + 4 + plaintext.length + SESSION_TAG_BYTES;
    const out = Buffer.allocUnsafe(this.recordPrefix.length + 2 + recipients.length * entryBytes);
    out.set(this.recordPrefix, 0);
    const countAt = this.recordPrefix.length;
    let at = countAt + 2;
    let count = 0;
    for (const session of recipients) {
      let sealed: { epoch: number; seq: number };
      try {
        sealed = session.send.sealInto(plaintext, EMPTY_AAD, out, at + ENTRY_HEADER + 4);
      } catch (error) {
        if (session === this.self) throw error;
        this.forget(session);
        void this.handshake(session.keys.peerId);
        continue;
      }
      out.set(session.keys.sessionId, at);
      at = out.writeUInt32BE(sealed.epoch, at + SESSION_ID_BYTES);
      at = out.writeUInt32BE(Math.floor(sealed.seq / 0x1_0000_0000), at);
      at = out.writeUInt32BE(sealed.seq >>> 0, at);
      at = out.writeUInt32BE(plaintext.length + SESSION_TAG_BYTES, at);
      at += plaintext.length + SESSION_TAG_BYTES;
      count++;
    }
    out.writeUInt16BE(count, countAt);
    return new Uint8Array(out.buffer, out.byteOffset, at);
  }

  /**
   * Finds this node's entry in a session record, checks it against the scope's replay window and opens it.
   * @throws TrustError `DECODE_ERROR`, `UNAUTHENTICATED` (`details.reason` `no-session`: nothing this node can read;
   *   an exchange with the sender is started), `DECRYPTION_FAILED`, `REPLAY_DETECTED` (`duplicate`, `below-window`,
   *   `old-epoch`), `KEY_REVOKED` (the sender's identity key was revoked since the exchange; the session is dropped).
   */
  open(record: Uint8Array, scope: SessionReplayScope): { senderId: string; plaintext: Uint8Array } {
    const r = new WireReader(record);
    if (r.u8() !== RECORD_VERSION) throw new TrustError('DECODE_ERROR', 'unknown session record version');
    const senderId = this.senderOf(r);
    const count = r.u16();
    const bytes = Buffer.from(record.buffer, record.byteOffset, record.length);
    for (let i = 0; i < count; i++) {
      const at = r.offset;
      r.skip(ENTRY_HEADER);
      const ciphertext = r.bytes(r.u32());
      const session = this.sessionAt(bytes, at);
      if (!session) continue;
      if (session.keys.peerId !== senderId) {
        throw new TrustError('UNAUTHENTICATED', `session of ${session.keys.peerId} used by a message claiming ${senderId}`, { details: { reason: 'sender-mismatch' } });
      }
      if (this.revoked(session)) {
        throw new TrustError('KEY_REVOKED', `the key ${session.keys.peerKeyId} that ${senderId} ran the session exchange with is revoked`, { details: { keyId: session.keys.peerKeyId } });
      }
      const epoch = bytes.readUInt32BE(at + SESSION_ID_BYTES);
      const seq = bytes.readUInt32BE(at + SESSION_ID_BYTES + 4) * 0x1_0000_0000 + bytes.readUInt32BE(at + SESSION_ID_BYTES + 8);
      const window = scope.window(session.receive);
      window.check(seq);
      const plaintext = session.receive.open({ epoch, seq, ciphertext }, EMPTY_AAD);
      window.commit(seq);
      if (!session.confirmed) session.confirmed = true; // the initiator used the keys: it holds them
      this.touch(session.keys.peerId);
      this.lastOpened = session;
      return { senderId, plaintext };
    }
    r.end();
    this.reachOut(senderId);
    throw new TrustError('UNAUTHENTICATED', `no session with ${senderId} can read this message`, { details: { reason: 'no-session', senderId } });
  }

  /** The sender id of a record (the string of the last record is reused while the bytes are the same). */
  private senderOf(r: WireReader): string {
    const length = r.u16();
    const raw = r.bytes(length);
    const last = this.lastSender;
    if (last && last.bytes.length === length && last.bytes.equals(raw)) return last.id;
    r.offset -= length + 2;
    const id = r.str();
    this.lastSender = { bytes: Buffer.from(raw), id };
    return id;
  }

  /** The session whose id starts at `at` (the one of the last record opened is checked first, without a string). */
  private sessionAt(bytes: Buffer, at: number): Session | undefined {
    const last = this.lastOpened;
    if (last && bytes.compare(last.keys.sessionId, 0, SESSION_ID_BYTES, at, at + SESSION_ID_BYTES) === 0 && this.byId.get(last.idKey) === last) return last;
    return this.byId.get(bytes.toString('hex', at, at + SESSION_ID_BYTES));
  }

  /** Starts an exchange with a sender whose message this node cannot read, unless one ran recently. */
  private reachOut(peer: string): void {
    if (peer === this.options.selfId || this.pending.has(peer) || this.closed) return;
    const last = this.lastAttempt.get(peer);
    if (last !== undefined && this.clock.monotonic() - last < (this.options.session.retryMs ?? 1000)) return;
    this.handshake(peer).catch((error: unknown) => this.logger.warn('session handshake failed', { peer, error: String(error) }));
  }

  private async sendHandshake(peer: string, data: Uint8Array): Promise<void> {
    const event: EcpsEvent = { id: uuidv4(this.random), source: nodeSource(this.options.selfId), type: SESSION_HANDSHAKE_EVENT_TYPE, data };
    await this.inner!.publish(sessionInboxTopic(peer), event, { qos: 1 });
  }

  private async onHandshake(event: EcpsEvent): Promise<void> {
    if (this.closed) return;
    try {
      if (event.type !== SESSION_HANDSHAKE_EVENT_TYPE) throw new TrustError('DECODE_ERROR', `unexpected ${event.type} on the session inbox`);
      const kind = handshakeKind(event.data);
      if (kind === 'init') {
        const { reply, keys, confirmKey } = await respondToHandshake(event.data, this.options.selfId, this.options.signer, this.options.keys, this.freshness, this.random, this.suites);
        this.install(new Session(keys, this.policy, this.clock, false, confirmKey));
        await this.sendHandshake(keys.peerId, reply);
      } else if (kind === 'reply') {
        const r = new WireReader(event.data);
        r.offset = 2;
        r.str();
        const peer = r.str();
        const p = this.pending.get(peer);
        if (!p?.handshake) throw new TrustError('UNAUTHENTICATED', `unexpected session reply from ${peer}`, { details: { reason: 'not-our-handshake' } });
        const { keys, confirm } = completeHandshake(p.handshake, event.data, this.options.selfId, this.options.keys);
        this.pending.delete(peer);
        this.clock.clearTimeout(p.timer as never);
        this.install(new Session(keys, this.policy, this.clock, true));
        await this.sendHandshake(peer, confirm).finally(() => p.resolve());
      } else {
        const c = readConfirm(event.data);
        const session = this.byId.get(Buffer.from(c.sessionId).toString('hex'));
        if (!session || session.keys.peerId !== c.initiatorId || c.responderId !== this.options.selfId || !session.confirmKey || !confirmationValid(session.confirmKey, c.mac)) {
          throw new TrustError('UNAUTHENTICATED', `invalid session confirmation from ${c.initiatorId}`, { details: { reason: 'bad-confirmation' } });
        }
        session.confirmed = true;
      }
    } catch (error) {
      const trustError = error instanceof TrustError ? error : new TrustError('INTERNAL', String(error), { cause: error });
      this.logger.warn('refused session handshake message', { source: event.source, code: trustError.code, reason: trustError.message });
      this.options.onReject?.(trustError, event);
    }
  }

  /** Adds a session as the peer's newest, keeping the one before it (still in use until the new one is confirmed). */
  private install(session: Session): void {
    const peer = session.keys.peerId;
    this.lastTouched = undefined;
    const list = this.byPeer.get(peer) ?? [];
    this.byPeer.delete(peer);
    for (const old of list.slice(1)) this.byId.delete(old.idKey);
    this.byPeer.set(peer, list.length > 0 ? [session, list[0]!] : [session]);
    this.byId.set(session.idKey, session);
    if (this.byPeer.size > (this.options.session.maxPeers ?? 10_000)) {
      const [oldest] = this.byPeer.keys();
      for (const s of this.byPeer.get(oldest!) ?? []) this.byId.delete(s.idKey);
      this.byPeer.delete(oldest!);
    }
  }

  /** Whether the peer's identity key was revoked since the exchange; such a session is dropped. */
  private revoked(session: Session): boolean {
    if (session === this.self || !this.options.keys.isRevoked(session.keys.peerKeyId)) return false;
    this.forget(session);
    return true;
  }

  private forget(session: Session): void {
    this.lastTouched = undefined;
    this.byId.delete(session.idKey);
    const list = this.byPeer.get(session.keys.peerId)?.filter((s) => s !== session);
    if (list && list.length > 0) this.byPeer.set(session.keys.peerId, list);
    else this.byPeer.delete(session.keys.peerId);
  }

  private touch(peer: string): void {
    if (peer === this.lastTouched) return; // already the most recently used
    const list = this.byPeer.get(peer);
    if (!list || this.byPeer.size < 2) return;
    this.byPeer.delete(peer);
    this.byPeer.set(peer, list);
    this.lastTouched = peer;
  }
}

const EMPTY_AAD = new Uint8Array(0);
