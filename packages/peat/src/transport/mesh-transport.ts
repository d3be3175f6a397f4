// SPDX-License-Identifier: Apache-2.0
// A PeatTransport over any PeatLink: finds peers by announcements, authenticates each with the mutual
// handshake before `peerUp`, carries §6.5 frames through a per-peer reliable channel, and declares a peer down
// when its heartbeats stop (the partition detector).
//
// The responder counts the initiator as a peer when it sends its accepting Result, so its first frames can reach the
// initiator before that Result does. The initiator holds such frames (bounded) when it has already verified the
// sender's proof, and delivers them right after the Result, instead of losing them until the next anti-entropy
// round. A frame from a peer that proved nothing is never held nor delivered.
import { cryptoRandom, silentLogger, systemClock } from '@ecps/core';
import type { Clock, Logger, RandomSource, TimerHandle } from '@ecps/core';
import { ByteReader, ByteWriter, bytesEqual, decodeUtf8 } from '../bytes';
import { PeatError } from '../errors';
import { DEFAULT_MAX_FRAME_BYTES, decodeFrame, encodeFrame } from '../frame';
import type { Frame } from '../frame';
import { HandshakeStep, decodeHandshake, encodeResult } from '../security/handshake';
import type { AuthenticatedPeer, InitiatorState, MutualHandshake, ResponderState } from '../security/handshake';
import { PeerChannel, RELIABILITY_DEFAULTS } from './reliability';
import type { ReliabilityOptions } from './reliability';
import type { PeatLink, PeatTransport } from './types';

/** First byte of every link message. */
export const LinkKind = { Frame: 0x00, Heartbeat: 0x01, Announce: 0x02, Handshake: 0x03 } as const;

export interface MeshTransportOptions {
  readonly link: PeatLink;
  /** The mutual handshake; absent = peers are trusted once announced (closed simulations only). */
  readonly handshake?: MutualHandshake;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly logger?: Logger;
  readonly reliability?: ReliabilityOptions;
  /** Heartbeat period. Default 5 s. */
  readonly heartbeatMs?: number;
  /** Silence that counts as one failed heartbeat check. Default 15 s. */
  readonly peerTimeoutMs?: number;
  /** Consecutive failed checks before the peer is down. Default 3. */
  readonly failuresBeforeDown?: number;
  /** Broadcast announcement period (finds new peers and heals partitions); 0 = only at start. Default 5 s. */
  readonly announceMs?: number;
  /** Per-step handshake timeout. Default 30 s. */
  readonly handshakeTimeoutMs?: number;
  /** The initiator re-sends its last handshake message this often until answered (lossy links). Default 1 s. */
  readonly handshakeRetryMs?: number;
  /** Largest frame payload accepted. Default 16 MiB. */
  readonly maxFrameBytes?: number;
  /**
   * Broadcast scopes to announce in (and hear announcements from), when the link supports scopes; absent or
   * empty = mesh-wide announcements. Changeable with {@link MeshTransport.setScopes}.
   */
  readonly scopes?: readonly string[];
  /**
   * Frames held per peer whose proof we verified while its accepting Result is still on its way (they are
   * delivered right after it). Over this count or {@link maxEarlyBytes}, a frame is dropped. Default 64.
   */
  readonly maxEarlyFrames?: number;
  /** Bytes of frames held per such peer. Default 1 MiB. */
  readonly maxEarlyBytes?: number;
}

/** Why the transport dropped a link message. */
export interface MeshDropReasons {
  /** A frame from a peer that is not authenticated, and has not proved its identity in a handshake under way. */
  unauthenticated: number;
  /** A frame or announcement that did not decode. */
  undecodable: number;
  /** A link message of an unknown kind. */
  unknownKind: number;
  /** A frame that arrived before the handshake Result when the peer's held frames were at their bound. */
  earlyOverflow: number;
  /** Held frames of a handshake that then failed, timed out or was replaced by a new one. */
  handshakeEnded: number;
}

/** What the transport counted. */
export interface MeshTransportStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  handshakesOk: number;
  handshakesFailed: number;
  /** Link messages dropped, for any of the {@link MeshDropReasons}: their sum. */
  dropped: number;
  dropReasons: MeshDropReasons;
  /** Frames that arrived before the handshake Result from a peer whose proof we had verified, and were held. */
  earlyHeld: number;
  peersDown: number;
}

interface Session {
  readonly role: 'I' | 'R';
  readonly initiator?: InitiatorState;
  responder?: ResponderState;
  /** Initiator: the responder is proven, waiting for its result. */
  proven?: AuthenticatedPeer;
  /** Our last handshake message, sent again (initiator) or answered again (responder) when the link loses it. */
  last: Uint8Array;
  timer: TimerHandle;
  retry: TimerHandle | undefined;
  /** Initiator, once `proven`: frames that overtook the Result, in arrival order, with their link bytes. */
  held: { frame: Frame; bytes: number }[];
  heldBytes: number;
}

interface Peer {
  readonly info: AuthenticatedPeer | undefined;
  readonly channel: PeerChannel;
  lastHeard: number;
  failures: number;
}

function linkMessage(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

/** Builds a PeatTransport over `link`. */
export function meshTransport(options: MeshTransportOptions): MeshTransport {
  return new MeshTransport(options);
}

export class MeshTransport implements PeatTransport {
  readonly stats: MeshTransportStats = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    handshakesOk: 0,
    handshakesFailed: 0,
    dropped: 0,
    dropReasons: { unauthenticated: 0, undecodable: 0, unknownKind: 0, earlyOverflow: 0, handshakeEnded: 0 },
    earlyHeld: 0,
    peersDown: 0,
  };
  private readonly link: PeatLink;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly logger: Logger;
  private readonly reliability: Required<ReliabilityOptions>;
  private readonly up = new Map<string, Peer>();
  private readonly sessions = new Map<string, Session>();
  private readonly lastAnnounceReply = new Map<string, number>();
  private frameHandlers: ((peer: string, frame: Frame) => void)[] = [];
  private upHandlers: ((peer: string) => void)[] = [];
  private downHandlers: ((peer: string) => void)[] = [];
  private heartbeatTimer: TimerHandle | undefined;
  private announceTimer: TimerHandle | undefined;
  private running = false;
  private scopes: readonly string[];

  constructor(private readonly options: MeshTransportOptions) {
    this.scopes = [...new Set(options.scopes ?? [])];
    if (this.scopes.length && (!options.link.joinScope || !options.link.leaveScope)) {
      throw new PeatError('UNSUPPORTED', 'this link has no broadcast scopes');
    }
    this.link = options.link;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.logger = options.logger ?? silentLogger;
    this.reliability = { ...RELIABILITY_DEFAULTS, ...options.reliability };
    if (options.handshake && options.handshake.nodeId !== options.link.nodeId) {
      throw new PeatError('INVALID_ARGUMENT', 'the link and the handshake identity name different nodes');
    }
  }

  get nodeId(): string {
    return this.link.nodeId;
  }

  onFrame(handler: (peer: string, frame: Frame) => void): void {
    this.frameHandlers.push(handler);
  }
  onPeerUp(handler: (peer: string) => void): void {
    this.upHandlers.push(handler);
  }
  onPeerDown(handler: (peer: string) => void): void {
    this.downHandlers.push(handler);
  }

  peers(): string[] {
    return [...this.up.keys()].sort();
  }

  /** The certificate and key a peer proved in its handshake (undefined without a handshake). */
  peerInfo(peer: string): AuthenticatedPeer | undefined {
    return this.up.get(peer)?.info;
  }

  /** The reliable channel to `peer` (for its counters and breaker state). */
  channel(peer: string): PeerChannel | undefined {
    return this.up.get(peer)?.channel;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.link.start({
      message: (from, data) => this.receive(from, data),
      reachable: (peer) => this.discovered(peer, true),
      unreachable: (peer) => this.down(peer),
    });
    for (const scope of this.scopes) await this.link.joinScope!(scope);
    this.announce();
    this.scheduleHeartbeat();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
    if (this.announceTimer !== undefined) this.clock.clearTimeout(this.announceTimer);
    for (const peer of [...this.sessions.keys()]) this.endSession(peer);
    for (const peer of [...this.up.keys()]) this.down(peer);
    await this.link.stop();
  }

  async send(peer: string, frame: Frame): Promise<void> {
    const p = this.up.get(peer);
    if (!p) throw new PeatError('NOT_CONNECTED', `peer ${peer} is not connected`);
    const bytes = encodeFrame(frame);
    if (bytes.length + 1 > this.link.maxMessageBytes) {
      throw new PeatError('FRAME_TOO_LARGE', `frame of ${bytes.length} bytes exceeds the link's ${this.link.maxMessageBytes}`);
    }
    await p.channel.send(linkMessage(LinkKind.Frame, bytes));
    this.stats.framesOut++;
    this.stats.bytesOut += bytes.length + 1;
  }

  async broadcast(frame: Frame): Promise<void> {
    await Promise.all(this.peers().map((p) => this.send(p, frame)));
  }

  /** The broadcast scopes this transport announces in. */
  get currentScopes(): readonly string[] {
    return this.scopes;
  }

  /**
   * Replaces the broadcast scopes (a node that becomes a cell leader adds its zone's scope): leaves the old ones,
   * joins and announces in the new ones. Peers already up stay up. @throws PeatError `UNSUPPORTED` when the link has
   * no scopes.
   */
  async setScopes(scopes: readonly string[]): Promise<void> {
    const next = [...new Set(scopes)];
    if (next.length && (!this.link.joinScope || !this.link.leaveScope)) throw new PeatError('UNSUPPORTED', 'this link has no broadcast scopes');
    const added = next.filter((s) => !this.scopes.includes(s));
    const removed = this.scopes.filter((s) => !next.includes(s));
    this.scopes = next;
    if (!this.running) return;
    for (const scope of removed) await this.link.leaveScope!(scope);
    for (const scope of added) await this.link.joinScope!(scope);
    for (const scope of added) this.announceIn(scope);
    if (next.length === 0 && removed.length) this.announceIn(undefined);
  }

  // ---- discovery and handshake ----

  private announceIn(scope: string | undefined): void {
    void this.link.broadcast(linkMessage(LinkKind.Announce, new ByteWriter().lp(this.nodeId).finish()), scope).catch((e: unknown) => {
      this.logger.debug('peat announce failed', { error: String(e) });
    });
  }

  private announce(): void {
    if (!this.running) return;
    if (this.scopes.length === 0) this.announceIn(undefined);
    for (const scope of this.scopes) this.announceIn(scope);
    const every = this.options.announceMs ?? 5_000;
    if (every > 0) this.announceTimer = this.clock.setTimeout(() => this.announce(), every);
  }

  private sendRaw(to: string, kind: number, body: Uint8Array): void {
    void this.link.send(to, linkMessage(kind, body)).catch((e: unknown) => {
      this.logger.debug('peat link send failed', { to, error: String(e) });
    });
  }

  /** A peer is known to exist: the lower id starts the handshake; the higher one invites it to. */
  private discovered(peer: string, fromLink = false): void {
    if (!this.running || peer === this.nodeId || this.up.has(peer) || this.sessions.has(peer)) return;
    if (!this.options.handshake) {
      this.peerUp(peer, undefined);
      // make sure the other side learns about us too
      this.sendRaw(peer, LinkKind.Announce, new ByteWriter().lp(this.nodeId).finish());
      return;
    }
    if (this.nodeId < peer) {
      const { state, message } = this.options.handshake.initiate();
      const session: Session = { role: 'I', initiator: state, last: message, timer: this.sessionTimer(peer), retry: undefined, held: [], heldBytes: 0 };
      this.sessions.set(peer, session);
      this.sendRaw(peer, LinkKind.Handshake, message);
      this.retransmit(peer, session);
    } else {
      const now = this.clock.monotonic();
      const last = this.lastAnnounceReply.get(peer);
      if (!fromLink && last !== undefined && now - last < (this.options.announceMs ?? 5_000)) return;
      this.lastAnnounceReply.set(peer, now);
      this.sendRaw(peer, LinkKind.Announce, new ByteWriter().lp(this.nodeId).finish());
    }
  }

  /** Initiator side: re-send the last message until the session moves on or ends. */
  private retransmit(peer: string, session: Session): void {
    session.retry = this.clock.setTimeout(() => {
      if (this.sessions.get(peer) !== session) return;
      this.sendRaw(peer, LinkKind.Handshake, session.last);
      this.retransmit(peer, session);
    }, this.options.handshakeRetryMs ?? 1_000);
  }

  private sessionTimer(peer: string): TimerHandle {
    return this.clock.setTimeout(() => {
      this.endSession(peer);
      this.stats.handshakesFailed++;
      this.logger.warn('peat handshake timed out', { peer });
    }, this.options.handshakeTimeoutMs ?? 30_000);
  }

  /** Ends the handshake with `peer`: its timers stop and the frames it still holds are dropped. */
  private endSession(peer: string): void {
    const s = this.sessions.get(peer);
    if (!s) return;
    this.clock.clearTimeout(s.timer);
    if (s.retry !== undefined) this.clock.clearTimeout(s.retry);
    this.drop('handshakeEnded', s.held.length);
    this.sessions.delete(peer);
  }

  private failHandshake(peer: string, error: unknown, tellPeer: boolean): void {
    this.endSession(peer);
    this.stats.handshakesFailed++;
    this.logger.warn('peat handshake rejected', { peer, error: error instanceof Error ? error.message : String(error) });
    if (tellPeer) this.sendRaw(peer, LinkKind.Handshake, encodeResult(false));
  }

  private async onHandshake(from: string, body: Uint8Array): Promise<void> {
    const hs = this.options.handshake;
    if (!hs) return;
    let msg;
    try {
      msg = decodeHandshake(body);
    } catch (e) {
      this.failHandshake(from, e, false);
      return;
    }
    try {
      if (msg.step === HandshakeStep.Hello) {
        if (msg.hello.nodeId !== from) throw new PeatError('UNAUTHENTICATED', 'authentication failed: Hello names another node');
        const current = this.sessions.get(from);
        if (current?.responder && bytesEqual(current.responder.hello.nonce, msg.hello.nonce)) {
          // the same Hello again (a retransmission or a duplicate): answer with the same Challenge
          this.sendRaw(from, LinkKind.Handshake, current.last);
          return;
        }
        // a new Hello (the peer restarted or gave up): forget the old session first
        this.endSession(from);
        const { state, message } = await hs.respond(msg.hello);
        this.sessions.set(from, { role: 'R', responder: state, last: message, timer: this.sessionTimer(from), retry: undefined, held: [], heldBytes: 0 });
        this.sendRaw(from, LinkKind.Handshake, message);
      } else if (msg.step === HandshakeStep.Challenge) {
        const s = this.sessions.get(from);
        if (!s?.initiator || s.proven) return;
        if (msg.challenge.nodeId !== from) throw new PeatError('UNAUTHENTICATED', 'authentication failed: Challenge names another node');
        const { message, peer } = await hs.complete(s.initiator, msg.challenge);
        s.proven = peer;
        s.last = message;
        this.sendRaw(from, LinkKind.Handshake, message);
      } else if (msg.step === HandshakeStep.Response) {
        const s = this.sessions.get(from);
        if (!s?.responder) {
          // our accepting Result was lost and the initiator asks again
          if (this.up.has(from)) this.sendRaw(from, LinkKind.Handshake, encodeResult(true));
          return;
        }
        const peer = hs.accept(s.responder, msg.response);
        this.endSession(from);
        this.sendRaw(from, LinkKind.Handshake, encodeResult(true));
        this.authenticated(peer);
      } else {
        const s = this.sessions.get(from);
        if (!s?.proven) return;
        const peer = s.proven;
        if (!msg.accepted) {
          this.failHandshake(from, new PeatError('UNAUTHENTICATED', 'authentication failed (peer rejected us)'), false);
          return;
        }
        const held = s.held.splice(0);
        this.endSession(from);
        this.authenticated(peer);
        // after the peerUp handlers, so that what consumes the frames knows the peer
        for (const h of held) {
          if (this.running && this.up.has(from)) this.deliver(from, h.frame, h.bytes);
          else this.drop('handshakeEnded');
        }
      }
    } catch (e) {
      this.failHandshake(from, e, msg.step !== HandshakeStep.Result);
    }
  }

  private authenticated(peer: AuthenticatedPeer): void {
    this.stats.handshakesOk++;
    // a re-handshake (the peer restarted) starts its sync from scratch
    if (this.up.has(peer.nodeId)) this.down(peer.nodeId);
    this.peerUp(peer.nodeId, peer);
  }

  private peerUp(peer: string, info: AuthenticatedPeer | undefined): void {
    const channel = new PeerChannel((data) => this.link.send(peer, data), this.reliability, this.clock, this.random);
    this.up.set(peer, { info, channel, lastHeard: this.clock.monotonic(), failures: 0 });
    for (const h of this.upHandlers) h(peer);
  }

  private down(peer: string): void {
    const p = this.up.get(peer);
    if (!p) return;
    this.up.delete(peer);
    p.channel.close();
    this.stats.peersDown++;
    for (const h of this.downHandlers) h(peer);
  }

  // ---- receiving ----

  private receive(from: string, data: Uint8Array): void {
    if (!this.running || from === this.nodeId || data.length === 0) return;
    const peer = this.up.get(from);
    if (peer) {
      peer.lastHeard = this.clock.monotonic();
      peer.failures = 0;
    }
    const body = data.subarray(1);
    switch (data[0]) {
      case LinkKind.Frame:
        this.receiveFrame(from, data);
        return;
      case LinkKind.Announce: {
        try {
          const r = new ByteReader(body);
          const id = decodeUtf8(r.lp('node id'));
          if (id !== from) return;
        } catch {
          this.drop('undecodable');
          return;
        }
        this.discovered(from);
        return;
      }
      case LinkKind.Handshake:
        void this.onHandshake(from, body);
        return;
      case LinkKind.Heartbeat:
        if (!peer) this.discovered(from);
        return;
      default:
        this.drop('unknownKind');
    }
  }

  /**
   * A frame from an authenticated peer is delivered. One from the peer of a handshake under way whose proof we have
   * verified (only the accepting Result is missing) is held, within bounds. Anything else is dropped.
   */
  private receiveFrame(from: string, data: Uint8Array): void {
    // without a handshake, any node that speaks is trusted: the frame announces its sender
    if (!this.options.handshake) this.discovered(from);
    const session = this.up.has(from) ? undefined : this.sessions.get(from);
    if (!this.up.has(from) && !session?.proven) {
      this.drop('unauthenticated');
      this.discovered(from);
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(data.subarray(1), this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    } catch (e) {
      this.drop('undecodable');
      this.logger.warn('peat frame dropped', { from, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    if (!session) {
      this.deliver(from, frame, data.length);
      return;
    }
    if (session.held.length >= (this.options.maxEarlyFrames ?? 64) || session.heldBytes + data.length > (this.options.maxEarlyBytes ?? 1024 * 1024)) {
      this.drop('earlyOverflow');
      return;
    }
    session.held.push({ frame, bytes: data.length });
    session.heldBytes += data.length;
    this.stats.earlyHeld++;
  }

  private deliver(from: string, frame: Frame, bytes: number): void {
    this.stats.framesIn++;
    this.stats.bytesIn += bytes;
    for (const h of this.frameHandlers) h(from, frame);
  }

  private drop(reason: keyof MeshDropReasons, count = 1): void {
    this.stats.dropped += count;
    this.stats.dropReasons[reason] += count;
  }

  // ---- partition detector ----

  private scheduleHeartbeat(): void {
    const every = this.options.heartbeatMs ?? 5_000;
    this.heartbeatTimer = this.clock.setTimeout(() => {
      if (!this.running) return;
      const now = this.clock.monotonic();
      const timeout = this.options.peerTimeoutMs ?? 15_000;
      const limit = this.options.failuresBeforeDown ?? 3;
      const beat = new ByteWriter().u64(Math.max(0, Math.trunc(this.clock.now()))).finish();
      for (const [id, p] of [...this.up]) {
        if (now - p.lastHeard > timeout) {
          if (++p.failures >= limit) {
            this.logger.info('peat peer partitioned', { peer: id });
            this.down(id);
            continue;
          }
        }
        this.sendRaw(id, LinkKind.Heartbeat, beat);
      }
      this.scheduleHeartbeat();
    }, every);
  }
}
