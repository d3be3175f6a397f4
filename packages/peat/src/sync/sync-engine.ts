// SPDX-License-Identifier: Apache-2.0
// Keeps a replica's documents in sync with its peers (spec §6.3): one Automerge sync state per (doc, peer),
// committed only after the send succeeded; local changes coalesced by a per-(peer, doc) cooldown; digests for new
// peers and every anti-entropy period; LatestOnly documents as snapshots; tombstones exchanged on connect and
// re-sent until acknowledged; and, when signing is on, every change verified before anything is applied.
import * as A from '@automerge/automerge';
import { fromHex, silentLogger, systemClock, toHex } from '@ecps/core';
import type { Clock, Logger, TimerHandle } from '@ecps/core';
import { createHash } from 'node:crypto';
import { docKey, splitDocKey } from '../doc-key';
import { PeatError } from '../errors';
import {
  FrameType,
  decodeChangeSignatures,
  decodeDigest,
  decodeSyncBatch,
  decodeTombstone,
  decodeTombstoneAck,
  decodeTombstoneBatch,
  encodeChangeSignatures,
  encodeDigest,
  encodeSyncBatch,
  encodeTombstoneAck,
  encodeTombstoneBatch,
  DEFAULT_BATCH_TTL,
} from '../frame';
import type { ChangeSignature, DigestEntry, Frame, Tombstone } from '../frame';
import { signatureMap, signChange } from '../security/signed-changes';
import type { ChangeVerifier } from '../security/signed-changes';
import type { NodeIdentity } from '../security/identity';
import { changesInChunk, changesInSnapshot, changesInSyncMessage } from '../store/change-info';
import type { ChangeInfo } from '../store/change-info';
import type { ChangeEvent, DocumentStore } from '../store/document-store';
import type { PeatTransport } from '../transport/types';
import { routeDocument, routeTombstone } from './topology';
import type { Topology } from './topology';

/** Signing and verification of changes (spec §8.4). */
export interface SigningOptions {
  readonly identity: NodeIdentity;
  readonly verifier: ChangeVerifier;
}

export interface SyncEngineOptions {
  readonly store: DocumentStore;
  readonly transport: PeatTransport;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Per (peer, doc) coalescing of local changes. Default 100 ms. */
  readonly cooldownMs?: number;
  /** Digest exchange period. Default 5 s. */
  readonly antiEntropyMs?: number;
  /** Where documents go; changeable later with `setTopology`. Default: no parent (everything broadcast). */
  readonly topology?: Topology;
  /** Absent = changes are neither signed nor verified. */
  readonly signing?: SigningOptions;
  /** Forward changes learned from one peer to the other routed peers. Default true. */
  readonly relay?: boolean;
}

/** What the engine counted. */
export interface SyncStats {
  /** Sync messages and snapshots sent. */
  messagesOut: number;
  messagesIn: number;
  /** Frames that carried at least one change the receiver did not have (replication ops, §9 B1). */
  deliveriesWithChanges: number;
  snapshotsOut: number;
  digestsOut: number;
  sendFailures: number;
  /** Messages refused: bad signature, RBAC, tombstone, undecodable. */
  rejected: number;
  tombstonesOut: number;
}

/** Why a message was refused (for observers of security events). */
export interface RejectionEvent {
  readonly peer: string;
  readonly key: string;
  readonly error: PeatError;
}

interface DocSync {
  state: A.SyncState;
  /** Bumped whenever `state` changes, so a send that finished late does not overwrite newer state. */
  version: number;
  lastSentAt: number;
  timer: TimerHandle | undefined;
  inFlight: boolean;
  again: boolean;
  /** LatestOnly: digest of the version last sent or known to be held by the peer. */
  peerDigest: string | undefined;
}

interface PeerSync {
  readonly docs: Map<string, DocSync>;
  readonly unackedTombstones: Map<string, Tombstone>;
}

const ZERO_DIGEST = '0000000000000000';
const EMPTY_SYNC_STATE = (): A.SyncState => A.initSyncState();

/** sha256 over the sorted raw heads, first 8 bytes (hex). */
export function headsDigest(heads: readonly string[]): string {
  const h = createHash('sha256');
  for (const head of [...heads].sort()) h.update(fromHex(head));
  return h.digest().subarray(0, 8).toString('hex');
}

export class SyncEngine {
  readonly stats: SyncStats = { messagesOut: 0, messagesIn: 0, deliveriesWithChanges: 0, snapshotsOut: 0, digestsOut: 0, sendFailures: 0, rejected: 0, tombstonesOut: 0 };
  private readonly store: DocumentStore;
  private readonly transport: PeatTransport;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly cooldown: number;
  private readonly peers = new Map<string, PeerSync>();
  private readonly pendingSignatures = new Map<string, Promise<void>>();
  private readonly rejectionHandlers = new Set<(e: RejectionEvent) => void>();
  /** Documents this replica wrote since it started (one-hop collections leave only from their author). */
  private readonly authored = new Set<string>();
  private topology: Topology;
  private antiEntropyTimer: TimerHandle | undefined;
  private unobserve: (() => void) | undefined;
  private running = false;
  private batchSeq = 0n;

  constructor(private readonly options: SyncEngineOptions) {
    this.store = options.store;
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.cooldown = options.cooldownMs ?? 100;
    this.topology = options.topology ?? {};
    if (options.signing && options.signing.identity.nodeId !== options.transport.nodeId) {
      throw new PeatError('INVALID_ARGUMENT', 'the signing identity and the transport name different nodes');
    }
    this.transport.onFrame((peer, frame) => void this.onFrame(peer, frame));
    this.transport.onPeerUp((peer) => void this.onPeerUp(peer));
    this.transport.onPeerDown((peer) => this.onPeerDown(peer));
  }

  /** Starts observing the store and the anti-entropy timer (the transport is started by its owner). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unobserve = this.store.observe((e) => this.onStoreChange(e));
    this.scheduleAntiEntropy();
    for (const p of this.transport.peers()) void this.onPeerUp(p);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.unobserve?.();
    if (this.antiEntropyTimer !== undefined) this.clock.clearTimeout(this.antiEntropyTimer);
    for (const p of [...this.peers.keys()]) this.onPeerDown(p);
  }

  /** Replaces the topology; documents are re-offered to the peers they now route to at the next digest. */
  setTopology(topology: Topology): void {
    this.topology = topology;
  }

  /** Called for every refused message. Returns the unsubscribe function. */
  onRejected(handler: (e: RejectionEvent) => void): () => void {
    this.rejectionHandlers.add(handler);
    return () => this.rejectionHandlers.delete(handler);
  }

  /** Sync states held (one per (doc, peer) that exchanged anything). */
  get syncStateCount(): number {
    let n = 0;
    for (const p of this.peers.values()) n += p.docs.size;
    return n;
  }

  /** Signs a local change; the engine waits for it before sending the change anywhere. */
  signLocalChange(key: string, change: Uint8Array): void {
    const signing = this.options.signing;
    if (!signing) return;
    const info = changesInChunk(change);
    this.store.beginSignature(key);
    const prev = this.pendingSignatures.get(key) ?? Promise.resolve();
    const next = prev
      .then(async () => {
        const sigs = await Promise.all(info.map((c) => signChange(signing.identity, key, c.hash)));
        await this.store.addSignatures(key, sigs, true);
      })
      .catch((e: unknown) => this.logger.error('peat change signing failed', { key, error: String(e) }));
    this.pendingSignatures.set(key, next);
    void next.then(() => {
      if (this.pendingSignatures.get(key) === next) this.pendingSignatures.delete(key);
    });
  }

  // ---- routing ----

  private routes(key: string): string[] {
    const { collection } = splitDocKey(key);
    const policy = this.store.policy(collection);
    // a one-hop collection leaves only from its author: a leader does not pass its members' states on
    if (policy.relay === false && !this.authored.has(key)) return [];
    return routeDocument(policy.direction, this.topology, this.transport.peers(), collection);
  }

  private docSync(peer: string, key: string): DocSync | undefined {
    const p = this.peers.get(peer);
    if (!p) return undefined;
    let d = p.docs.get(key);
    if (!d) {
      d = { state: EMPTY_SYNC_STATE(), version: 0, lastSentAt: -Infinity, timer: undefined, inFlight: false, again: false, peerDigest: undefined };
      p.docs.set(key, d);
    }
    return d;
  }

  private onStoreChange(e: ChangeEvent): void {
    if (e.origin === 'local' && !e.removed) this.authored.add(e.key);
    if (e.removed) {
      this.authored.delete(e.key);
      for (const p of this.peers.values()) {
        const d = p.docs.get(e.key);
        if (d?.timer !== undefined) this.clock.clearTimeout(d.timer);
        p.docs.delete(e.key);
      }
      return;
    }
    if (e.origin === 'remote' && (this.options.relay === false || this.store.policy(e.collection).relay === false)) return;
    for (const peer of this.routes(e.key)) if (peer !== e.peer) this.schedule(peer, e.key);
  }

  /** Sends `key` to `peer` after the cooldown since the last send (coalescing everything in between). */
  private schedule(peer: string, key: string): void {
    const d = this.docSync(peer, key);
    if (!d || d.timer !== undefined) return;
    const delay = Math.max(0, d.lastSentAt + this.cooldown - this.clock.monotonic());
    d.timer = this.clock.setTimeout(() => {
      d.timer = undefined;
      void this.flush(peer, key);
    }, delay);
  }

  private isSnapshotMode(key: string): boolean {
    return this.store.policy(splitDocKey(key).collection).mode === 'latest-only';
  }

  /** Sends what `peer` is missing of `key` now. Only one send per (peer, doc) is in flight. */
  private async flush(peer: string, key: string): Promise<void> {
    const d = this.docSync(peer, key);
    if (!d || !this.running) return;
    if (d.inFlight) {
      d.again = true;
      return;
    }
    d.inFlight = true;
    try {
      await this.pendingSignatures.get(key);
      if (this.isSnapshotMode(key)) await this.sendSnapshot(peer, key, d);
      else await this.sendDelta(peer, key, d);
    } catch (e) {
      this.stats.sendFailures++;
      this.logger.debug('peat sync send failed', { peer, key, error: String(e) });
    } finally {
      d.inFlight = false;
      if (d.again && this.peers.get(peer)?.docs.get(key) === d) {
        d.again = false;
        void this.flush(peer, key);
      }
    }
  }

  private async sendDelta(peer: string, key: string, d: DocSync): Promise<void> {
    const version = d.version;
    const [next, message] = await this.store.generateSyncMessage(key, d.state);
    if (!message) {
      // up to date: keep only the shared heads, so a lost message is asked for again next time
      if (d.version === version) d.state = A.decodeSyncState(A.encodeSyncState(next));
      return;
    }
    const frames: Frame[] = [];
    if (this.options.signing) {
      const hashes = changesInSyncMessage(message).map((c) => c.hash);
      if (hashes.length > 0) frames.push(encodeChangeSignatures(key, await this.store.signaturesFor(key, hashes)));
    }
    frames.push({ key, type: FrameType.DeltaSync, payload: message });
    await this.transport.send(peer, frames.length === 1 ? frames[0]! : this.batch(frames));
    this.stats.messagesOut++;
    d.lastSentAt = this.clock.monotonic();
    // persisted only after the send succeeded; a receive meanwhile made `next` stale
    if (d.version === version) {
      d.state = next;
      d.version++;
    }
  }

  private async sendSnapshot(peer: string, key: string, d: DocSync): Promise<void> {
    const snap = await this.store.snapshot(key, this.options.signing !== undefined);
    if (!snap || snap.heads.length === 0) return;
    const digest = headsDigest(snap.heads);
    if (d.peerDigest === digest) return;
    const frames: Frame[] = [];
    if (this.options.signing) {
      frames.push(encodeChangeSignatures(key, await this.store.signaturesFor(key, snap.changes.map((c) => c.hash))));
    }
    frames.push({ key, type: FrameType.StateSnapshot, payload: snap.bytes });
    await this.transport.send(peer, frames.length === 1 ? frames[0]! : this.batch(frames));
    this.stats.messagesOut++;
    this.stats.snapshotsOut++;
    d.lastSentAt = this.clock.monotonic();
    d.peerDigest = digest;
  }

  private batch(frames: readonly Frame[]): Frame {
    return encodeSyncBatch({ batchId: ++this.batchSeq, createdAt: this.clock.now(), ttl: DEFAULT_BATCH_TTL, frames });
  }

  // ---- receiving ----

  private async onFrame(peer: string, frame: Frame): Promise<void> {
    if (!this.running || !this.peers.has(peer)) return;
    try {
      await this.handle(peer, frame, new Map());
    } catch (e) {
      const error = e instanceof PeatError ? e : new PeatError('INTERNAL', 'frame handling failed', { cause: e });
      this.reject(peer, frame.key, error);
    }
  }

  private reject(peer: string, key: string, error: PeatError): void {
    this.stats.rejected++;
    this.logger.warn('peat message rejected', { peer, key, code: error.code, error: error.message });
    for (const h of this.rejectionHandlers) h({ peer, key, error });
  }

  private async handle(peer: string, frame: Frame, signatures: Map<string, ChangeSignature>): Promise<void> {
    switch (frame.type) {
      case FrameType.SyncBatch: {
        const batch = decodeSyncBatch(frame.payload);
        const sigs = new Map<string, Map<string, ChangeSignature>>();
        for (const f of batch.frames) {
          if (f.type === FrameType.ChangeSignatures) {
            const m = sigs.get(f.key) ?? new Map<string, ChangeSignature>();
            for (const [h, s] of signatureMap(decodeChangeSignatures(f.payload))) m.set(h, s);
            sigs.set(f.key, m);
          }
        }
        for (const f of batch.frames) {
          if (f.type === FrameType.ChangeSignatures) continue;
          try {
            await this.handle(peer, f, sigs.get(f.key) ?? new Map());
          } catch (e) {
            this.reject(peer, f.key, e instanceof PeatError ? e : new PeatError('INTERNAL', 'frame handling failed', { cause: e }));
          }
        }
        return;
      }
      case FrameType.DeltaSync:
        return this.receiveDelta(peer, frame.key, frame.payload, signatures);
      case FrameType.StateSnapshot:
        return this.receiveSnapshot(peer, frame.key, frame.payload, signatures);
      case FrameType.Digest:
        return this.receiveDigest(peer, frame.key, decodeDigest(frame.payload));
      case FrameType.Tombstone:
        return this.receiveTombstones(peer, [decodeTombstone(frame.payload)]);
      case FrameType.TombstoneBatch:
        return this.receiveTombstones(peer, decodeTombstoneBatch(frame.payload));
      case FrameType.TombstoneAck: {
        const p = this.peers.get(peer);
        for (const k of decodeTombstoneAck(frame.payload)) p?.unackedTombstones.delete(k);
        return;
      }
      case FrameType.ChangeSignatures:
        // signatures outside a batch are not tied to a message: ignored
        return;
      case FrameType.Application:
        // for the layer above (the cell message bus), which listens on the transport itself
        return;
      default:
        throw new PeatError('UNSUPPORTED', `frame type 0x${frame.type.toString(16)} is not handled`);
    }
  }

  /** Verifies every change before any of it is applied (§8.4), when signing is on. */
  private async verify(key: string, changes: readonly ChangeInfo[], incoming: Map<string, ChangeSignature>): Promise<ChangeSignature[]> {
    const signing = this.options.signing;
    if (!signing || changes.length === 0) return [];
    const exempt = this.store.genesis(splitDocKey(key).collection)?.hash;
    const missing = changes.filter((c) => !incoming.has(c.hash) && c.hash !== exempt).map((c) => c.hash);
    // a change we already hold a signature for may come without one (we verified it when it first arrived)
    const known = missing.length ? signatureMap(await this.store.signaturesFor(key, missing)) : new Map<string, ChangeSignature>();
    const all = new Map([...known, ...incoming]);
    signing.verifier.verify(key, changes, all, exempt);
    return changes.map((c) => all.get(c.hash)).filter((s): s is ChangeSignature => s !== undefined);
  }

  private async receiveDelta(peer: string, key: string, message: Uint8Array, sigs: Map<string, ChangeSignature>): Promise<void> {
    splitDocKey(key); // a malformed key is refused before anything is created for it
    this.stats.messagesIn++;
    const d = this.docSync(peer, key);
    if (!d) return;
    const verified = await this.verify(key, this.options.signing ? changesInSyncMessage(message) : [], sigs);
    const { state, changed } = await this.store.receiveSyncMessage(key, d.state, message, peer);
    d.state = state;
    d.version++;
    if (changed) {
      this.stats.deliveriesWithChanges++;
      if (verified.length) await this.store.addSignatures(key, verified);
    }
    // answer at once (the cooldown is for local changes)
    await this.flush(peer, key);
  }

  private async receiveSnapshot(peer: string, key: string, bytes: Uint8Array, sigs: Map<string, ChangeSignature>): Promise<void> {
    splitDocKey(key); // a malformed key is refused before anything is created for it
    this.stats.messagesIn++;
    const d = this.docSync(peer, key);
    if (!d) return;
    let doc;
    try {
      doc = A.load(bytes);
    } catch (cause) {
      throw new PeatError('DECODE_ERROR', `snapshot for ${key} does not load`, { cause });
    }
    const theirDigest = headsDigest(A.getHeads(doc));
    let verified: ChangeSignature[];
    try {
      verified = await this.verify(key, this.options.signing ? changesInSnapshot(doc) : [], sigs);
    } finally {
      A.free(doc);
    }
    const result = await this.store.mergeSnapshot(key, bytes, peer);
    if (result === 'merged' || result === 'replaced') {
      this.stats.deliveriesWithChanges++;
      if (verified.length) await this.store.addSignatures(key, verified);
    }
    const heads = await this.store.heads(key);
    if (result === 'stale') {
      // the peer holds an older epoch: answer with ours
      d.peerDigest = undefined;
      void this.flush(peer, key);
    } else {
      // they hold what they sent; if ours holds more (a merge), they need it back
      d.peerDigest = theirDigest;
      if (theirDigest !== headsDigest(heads)) this.schedule(peer, key);
    }
  }

  private async receiveDigest(peer: string, collection: string, entries: readonly DigestEntry[]): Promise<void> {
    const theirs = new Map(entries.map((e) => [e.id, toHex(e.hash)]));
    // what they have and we lack or hold differently: sync it (our message carries our heads and needs)
    for (const [id, hash] of theirs) {
      let key: string;
      try {
        key = docKey(collection, id);
      } catch {
        continue;
      }
      if (this.store.liveTombstone(key)) continue;
      // a zero hash asks for a document; if we lack it too there is nothing to answer
      if (!this.store.has(key) && hash === ZERO_DIGEST) continue;
      const ours = this.store.has(key) ? headsDigest(await this.store.heads(key)) : undefined;
      if (ours === hash) {
        const d = this.peers.get(peer)?.docs.get(key);
        if (d) d.peerDigest = hash;
        continue;
      }
      this.resync(peer, key);
    }
    // what we route to them and they did not list
    for (const key of this.store.keys(collection)) {
      if (theirs.has(splitDocKey(key).id)) continue;
      if (this.routes(key).includes(peer) && (await this.store.syncable(key))) this.resync(peer, key);
    }
  }

  /** Forgets what we believed the peer has of `key` and sends it again. */
  private resync(peer: string, key: string): void {
    const d = this.docSync(peer, key);
    if (!d) return;
    d.state = A.decodeSyncState(A.encodeSyncState(d.state));
    d.version++;
    d.peerDigest = undefined;
    if (this.isSnapshotMode(key) && !this.store.has(key)) {
      // a LatestOnly doc we lack: ask with an empty delta exchange, the peer answers with its snapshot
      void this.requestSnapshot(peer, key);
      return;
    }
    void this.flush(peer, key);
  }

  private async requestSnapshot(peer: string, key: string): Promise<void> {
    // an empty digest for the doc tells the peer we have nothing
    const { collection, id } = splitDocKey(key);
    try {
      await this.transport.send(peer, encodeDigest(collection, [{ id, hash: new Uint8Array(8) }]));
    } catch {
      this.stats.sendFailures++;
    }
  }

  // ---- digests and anti-entropy ----

  private async sendDigests(peer: string): Promise<void> {
    const byCollection = new Map<string, DigestEntry[]>();
    for (const key of this.store.keys()) {
      if (!this.routes(key).includes(peer) || !(await this.store.syncable(key))) continue;
      const { collection, id } = splitDocKey(key);
      const list = byCollection.get(collection) ?? [];
      list.push({ id, hash: fromHex(headsDigest(await this.store.heads(key))) });
      byCollection.set(collection, list);
    }
    for (const [collection, entries] of byCollection) {
      try {
        await this.transport.send(peer, encodeDigest(collection, entries));
        this.stats.digestsOut++;
      } catch {
        this.stats.sendFailures++;
      }
    }
  }

  private scheduleAntiEntropy(): void {
    this.antiEntropyTimer = this.clock.setTimeout(() => {
      if (!this.running) return;
      void this.antiEntropy().finally(() => {
        if (this.running) this.scheduleAntiEntropy();
      });
    }, this.options.antiEntropyMs ?? 5_000);
  }

  /** One anti-entropy round: expire, re-send unacknowledged tombstones, exchange digests. */
  async antiEntropy(): Promise<void> {
    const swept = await this.store.sweep();
    if (swept.tombstones || swept.documents) this.logger.debug('peat sweep', swept);
    for (const [peer, p] of this.peers) {
      if (p.unackedTombstones.size) await this.sendTombstones(peer, [...p.unackedTombstones.values()]);
      await this.sendDigests(peer);
    }
  }

  // ---- peers and tombstones ----

  private async onPeerUp(peer: string): Promise<void> {
    if (!this.running || this.peers.has(peer)) return;
    this.peers.set(peer, { docs: new Map(), unackedTombstones: new Map() });
    const tombstones = this.store.liveTombstones().filter((t) => routeTombstone(this.store.policy(t.collection).tombstonePropagation, this.topology, [peer]).length > 0);
    if (tombstones.length) await this.sendTombstones(peer, tombstones);
    await this.sendDigests(peer);
  }

  private onPeerDown(peer: string): void {
    const p = this.peers.get(peer);
    if (!p) return;
    for (const d of p.docs.values()) if (d.timer !== undefined) this.clock.clearTimeout(d.timer);
    this.peers.delete(peer);
  }

  private async sendTombstones(peer: string, tombstones: readonly Tombstone[]): Promise<void> {
    const p = this.peers.get(peer);
    if (!p) return;
    for (const t of tombstones) p.unackedTombstones.set(docKey(t.collection, t.documentId), t);
    try {
      await this.transport.send(peer, encodeTombstoneBatch(tombstones));
      this.stats.tombstonesOut += tombstones.length;
    } catch {
      this.stats.sendFailures++;
    }
  }

  /** Spreads a local tombstone (from `DocumentStore.delete`) to the peers its propagation allows. */
  async spreadTombstone(t: Tombstone): Promise<void> {
    const peers = routeTombstone(this.store.policy(t.collection).tombstonePropagation, this.topology, this.transport.peers());
    await Promise.all(peers.map((p) => this.sendTombstones(p, [t])));
  }

  private async receiveTombstones(peer: string, tombstones: readonly Tombstone[]): Promise<void> {
    const acked: string[] = [];
    for (const t of tombstones) {
      const key = docKey(t.collection, t.documentId);
      const known = this.store.liveTombstone(key);
      const holds = await this.store.applyTombstone(t, peer);
      acked.push(key);
      if (holds && !known) {
        const next = routeTombstone(this.store.policy(t.collection).tombstonePropagation, this.topology, this.transport.peers()).filter((p) => p !== peer);
        await Promise.all(next.map((p) => this.sendTombstones(p, [t])));
      }
    }
    try {
      await this.transport.send(peer, encodeTombstoneAck(acked));
    } catch {
      this.stats.sendFailures++;
    }
  }
}
