// SPDX-License-Identifier: Apache-2.0
// The replica's documents: one Automerge document per (collection, id), field-level writes, deletion by the
// collection's policy (tombstones in a side table, implicit TTLs, soft deletes), persistence as a snapshot plus
// an incremental log with compaction, a bounded number of live documents (LRU), and change observers.
import * as A from '@automerge/automerge';
import { systemClock, toHex } from '@ecps/core';
import type { Clock } from '@ecps/core';
import { concatBytes } from '../bytes';
import { KeyedLock } from '../keyed-lock';
import { changesInSnapshot } from './change-info';
import type { ChangeInfo } from './change-info';
import { docKey, splitDocKey } from '../doc-key';
import { PeatError } from '../errors';
import type { ChangeSignature, Tombstone } from '../frame';
import { isSingleWriter, policyFor } from '../policy';
import type { CollectionPolicy } from '../policy';
import { SYSTEM_FIELDS, readLeader, toPlain, writeDiff, writeLeader } from './document';
import type { DocValue, LeaderRegister } from './document';
import type { StorageAdapter } from './storage';

type AnyDoc = A.Doc<Record<string, unknown>>;

/** What changed: fired for local writes and for changes merged from a peer. */
export interface ChangeEvent {
  readonly key: string;
  readonly collection: string;
  readonly id: string;
  readonly origin: 'local' | 'remote';
  /** The peer whose message carried the change (remote only). */
  readonly peer?: string;
  /** True when the document was removed (tombstone, expiry). */
  readonly removed?: boolean;
}

export type ChangeObserver = (event: ChangeEvent) => void;

export interface DocumentStoreOptions {
  /** Automerge actor id (hex) for this process: DeviceId ‖ 4 random bytes (see `actorIdFor`). */
  readonly actorId: string;
  /** DeviceId of this node (tombstones name it as the deleter). */
  readonly nodeId: string;
  readonly clock?: Clock;
  /** Byte storage. Absent = memory-only: nothing is written per change; evicted documents are kept as `save()` bytes. */
  readonly storage?: StorageAdapter;
  /** First component of every storage key. Default `peat`. */
  readonly namespace?: string;
  /** Per-collection policy overrides over the built-in table. */
  readonly policies?: Readonly<Record<string, CollectionPolicy>>;
  /** Live (decoded) documents kept in memory. Default 1,000 with storage, 10,000 memory-only. */
  readonly maxLiveDocs?: number;
  /** Write a full snapshot after this many increments... Default 100. */
  readonly compactAfterIncrements?: number;
  /** ...or this many incremental bytes. Default 1 MiB. */
  readonly compactAfterBytes?: number;
  /** Called with each local change (to sign it). */
  readonly onLocalChange?: (key: string, change: Uint8Array) => void;
}

interface Entry {
  doc: AnyDoc | undefined;
  /** Memory-only mode: `save()` of an evicted document. */
  saved: Uint8Array | undefined;
  increments: number;
  incrementBytes: number;
  nextIncrement: number;
  signatures: Map<string, ChangeSignature>;
  signaturesLoaded: boolean;
  pendingSignatures: number;
}

/** Actor of genesis changes: not a node, so no node can ever sign as it. */
export const GENESIS_ACTOR = '00'.repeat(20);

const SNAPSHOT = 'snapshot';
const INCREMENT = 'inc';
const SIGNATURES = 'sig';
const TOMBSTONES = '_tombstones';

function pad(n: number): string {
  return n.toString().padStart(12, '0');
}

/**
 * The documents of one replica. Every method that touches a document runs after the earlier ones on the same
 * document (per-document order), and a write resolves once its increment is stored.
 *
 * Handle ownership: an Automerge handle is only touched inside its key's serial section, and is freed only there
 * (tombstone, expiry, an emptied sync, a replacing snapshot, a rebase) or while its key is idle (eviction). Each
 * section looks its entry up when it starts, never when it was queued, and no handle is ever handed out.
 */
export class DocumentStore {
  readonly clock: Clock;
  private readonly entries = new Map<string, Entry>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly observers = new Set<ChangeObserver>();
  private readonly lock = new KeyedLock();
  private readonly maxLive: number;
  private readonly compactIncrements: number;
  private readonly compactBytes: number;
  private readonly ns: string;
  private live = 0;
  private readonly genesisCache = new Map<string, { change: Uint8Array; hash: string }>();
  private lamport = 0;

  private constructor(private readonly options: DocumentStoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.maxLive = options.maxLiveDocs ?? (options.storage ? 1_000 : 10_000);
    this.compactIncrements = options.compactAfterIncrements ?? 100;
    this.compactBytes = options.compactAfterBytes ?? 1024 * 1024;
    this.ns = options.namespace ?? 'peat';
    if (!/^[0-9a-f]+$/.test(options.actorId) || options.actorId.length % 2 !== 0) {
      throw new PeatError('INVALID_ARGUMENT', 'actorId must be even-length lowercase hex');
    }
  }

  /**
   * Opens a store: indexes what the storage holds, drops zero-byte records, loads the tombstone table.
   * Documents are decoded lazily, on first use. @throws PeatError `INVALID_ARGUMENT`; storage errors pass through.
   */
  static async open(options: DocumentStoreOptions): Promise<DocumentStore> {
    const store = new DocumentStore(options);
    await store.index();
    return store;
  }

  private async index(): Promise<void> {
    const storage = this.options.storage;
    if (!storage) return;
    for (const { key, data } of await storage.loadRange([this.ns])) {
      if (!data || data.length === 0) {
        await storage.remove(key);
        continue;
      }
      if (key[1] === TOMBSTONES) {
        const t = JSON.parse(new TextDecoder().decode(data)) as Tombstone;
        this.tombstones.set(docKey(t.collection, t.documentId), t);
        this.lamport = Math.max(this.lamport, t.lamport);
        continue;
      }
      const [, collection, id, kind, seq] = key;
      if (collection === undefined || id === undefined) continue;
      const entry = this.entry(docKey(collection, id), true)!;
      if (kind === INCREMENT) {
        entry.increments++;
        entry.incrementBytes += data.length;
      }
      if (kind === INCREMENT || kind === SIGNATURES) entry.nextIncrement = Math.max(entry.nextIncrement, Number(seq) + 1);
    }
  }

  private entry(key: string, create: boolean): Entry | undefined {
    let e = this.entries.get(key);
    if (!e && create) {
      e = { doc: undefined, saved: undefined, increments: 0, incrementBytes: 0, nextIncrement: 0, signatures: new Map(), signaturesLoaded: !this.options.storage, pendingSignatures: 0 };
      this.entries.set(key, e);
    }
    return e;
  }

  /** Runs `fn` after every earlier task on `key`. */
  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(key, fn);
  }

  /**
   * Runs `fn` on the decoded document of `key` in the key's serial section; resolves `absent` when the key is
   * unknown by the time the section starts (a task queued earlier may have dropped the document and freed it).
   */
  private withDoc<T>(key: string, absent: T, fn: (doc: AnyDoc, entry: Entry) => T | Promise<T>): Promise<T> {
    return this.serial(key, async () => {
      const entry = this.entries.get(key);
      return entry ? fn(await this.load(key, entry), entry) : absent;
    });
  }

  /** Frees the entry's decoded document, leaving no reference to the freed handle behind. */
  private release(entry: Entry): void {
    if (!entry.doc) return;
    A.free(entry.doc);
    entry.doc = undefined;
    this.live--;
  }

  private storageKey(key: string, ...rest: string[]): string[] {
    const { collection, id } = splitDocKey(key);
    return [this.ns, collection, id, ...rest];
  }

  policy(collection: string): CollectionPolicy {
    return policyFor(collection, this.options.policies);
  }

  /**
   * The collection's genesis change: one deterministic change (fixed actor, time 0) creating its OR-set maps.
   * Undefined for collections without sets. Its hash is the same on every replica, so it needs no signature.
   */
  genesis(collection: string): { change: Uint8Array; hash: string } | undefined {
    const sets = this.policy(collection).sets;
    if (!sets?.length) return undefined;
    let g = this.genesisCache.get(collection);
    if (!g) {
      const doc = A.change(A.init<Record<string, unknown>>({ actor: GENESIS_ACTOR }), { time: 0 }, (d) => {
        for (const s of sets) d[s] = {};
      });
      const change = A.getLastLocalChange(doc)!;
      g = { change, hash: A.decodeChange(change).hash };
      A.free(doc);
      this.genesisCache.set(collection, g);
    }
    return g;
  }

  /** Subscribes to local and remote changes; returns the unsubscribe function. */
  observe(observer: ChangeObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  private emit(event: ChangeEvent): void {
    for (const o of this.observers) o(event);
  }

  // ---- loading, LRU ----

  private async load(key: string, entry: Entry): Promise<AnyDoc> {
    if (entry.doc) {
      // refresh recency
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.doc;
    }
    let doc: AnyDoc;
    const actor = this.options.actorId;
    if (entry.saved) {
      doc = A.load(entry.saved, { actor });
      entry.saved = undefined;
    } else if (this.options.storage) {
      const storage = this.options.storage;
      const parts: Uint8Array[] = [];
      const snap = await storage.load(this.storageKey(key, SNAPSHOT));
      if (snap && snap.length > 0) parts.push(snap);
      const incs = await storage.loadRange(this.storageKey(key, INCREMENT));
      incs.sort((a, b) => (a.key[4]! < b.key[4]! ? -1 : 1));
      for (const c of incs) if (c.data && c.data.length > 0) parts.push(c.data);
      try {
        doc = parts.length ? A.loadIncremental(A.init<Record<string, unknown>>({ actor }), concatBytes(parts)) : A.init({ actor });
      } catch (cause) {
        throw new PeatError('LOG_CORRUPT', `stored document ${key} does not load`, { cause });
      }
      if (!entry.signaturesLoaded) {
        for (const c of await storage.loadRange(this.storageKey(key, SIGNATURES))) {
          if (c.data) for (const s of decodeSignatureLog(c.data)) entry.signatures.set(toHex(s.hash), s);
        }
        entry.signaturesLoaded = true;
      }
    } else {
      doc = A.init({ actor });
    }
    // the entry may have been touched meanwhile; the serial queue guarantees nobody else set doc
    entry.doc = doc;
    this.live++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.evict(key);
    return doc;
  }

  private evict(keep: string): void {
    if (this.live <= this.maxLive) return;
    for (const [key, e] of this.entries) {
      if (this.live <= this.maxLive) break;
      if (!e.doc || key === keep || this.lock.busy(key) || e.pendingSignatures > 0) continue;
      if (!this.options.storage) e.saved = A.save(e.doc);
      else {
        // signatures are persisted as they arrive; drop the in-memory copy with the document
        e.signatures = new Map();
        e.signaturesLoaded = false;
      }
      this.release(e);
    }
  }

  /** Number of decoded documents in memory. */
  get liveDocuments(): number {
    return this.live;
  }

  private async persist(key: string, entry: Entry, doc: AnyDoc): Promise<void> {
    const storage = this.options.storage;
    if (!storage) return;
    const inc = A.saveIncremental(doc);
    if (inc.length === 0) return;
    if (entry.increments + 1 >= this.compactIncrements || entry.incrementBytes + inc.length >= this.compactBytes) {
      await this.writeSnapshot(key, entry, doc);
      return;
    }
    await storage.save(this.storageKey(key, INCREMENT, pad(entry.nextIncrement++)), inc);
    entry.increments++;
    entry.incrementBytes += inc.length;
  }

  private async writeSnapshot(key: string, entry: Entry, doc: AnyDoc): Promise<void> {
    const storage = this.options.storage;
    if (!storage) return;
    await storage.save(this.storageKey(key, SNAPSHOT), A.save(doc));
    await storage.removeRange(this.storageKey(key, INCREMENT));
    entry.increments = 0;
    entry.incrementBytes = 0;
  }

  private hidden(doc: AnyDoc, collection: string, key: string): boolean {
    if (this.liveTombstone(key)) return true;
    if (doc['_deleted'] === true) return true;
    return this.expired(doc, collection);
  }

  private expired(doc: AnyDoc, collection: string): boolean {
    const d = this.policy(collection).deletion;
    if (d.kind !== 'implicit-ttl') return false;
    const created = doc['_created_at'];
    return typeof created === 'number' && this.clock.now() - created > d.ttlMs;
  }

  // ---- reads ----

  /** The document's value (system fields included), or undefined when absent, deleted or expired. */
  get<T extends DocValue = DocValue>(collection: string, id: string): Promise<T | undefined> {
    const key = docKey(collection, id);
    return this.withDoc<T | undefined>(key, undefined, (doc) => {
      if (A.getHeads(doc).length === 0 || this.hidden(doc, collection, key)) return undefined;
      return toPlain(A.toJS(doc)) as T;
    });
  }

  /** The leader register of a document, resolved by (round, score_q, node_id). */
  getLeader(collection: string, id: string, field = 'leader'): Promise<LeaderRegister | undefined> {
    return this.withDoc(docKey(collection, id), undefined, (doc) => readLeader(doc, field));
  }

  /** Ids of visible documents of `collection`, sorted. */
  async list(collection: string): Promise<string[]> {
    const out: string[] = [];
    for (const key of this.keys(collection)) {
      const { id } = splitDocKey(key);
      if ((await this.get(collection, id)) !== undefined) out.push(id);
    }
    return out.sort();
  }

  /** Every known doc key (visible or not, tombstoned excluded), optionally of one collection. */
  keys(collection?: string): string[] {
    const prefix = collection === undefined ? '' : `${collection}:`;
    const out: string[] = [];
    for (const key of this.entries.keys()) if (key.startsWith(prefix) && !this.liveTombstone(key)) out.push(key);
    return out;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  // ---- local writes ----

  /**
   * Makes the document equal to `value` by assigning only the changed leaves (creating it when absent; `_created_at`
   * is set on creation, `_updated_at` on every write of an update-wins collection). Resolves once stored.
   * @throws PeatError `INVALID_ARGUMENT` for unsupported values, `CONFLICT` for a tombstoned document.
   */
  put(collection: string, id: string, value: DocValue): Promise<string[]> {
    return this.change(collection, id, (d) => writeDiff(d, value));
  }

  /**
   * Applies `fn` to the document inside one Automerge change (OR-set adds and removes, counters, registers).
   * Resolves with the new heads. @throws PeatError `CONFLICT` for a tombstoned document; errors of `fn` pass through.
   */
  change(collection: string, id: string, fn: (draft: Record<string, unknown>) => void): Promise<string[]> {
    return this.changeWith(collection, id, () => fn);
  }

  /** Like {@link change}, with `build` seeing the current document before the change starts. */
  private changeWith(collection: string, id: string, build: (current: AnyDoc) => (draft: Record<string, unknown>) => void): Promise<string[]> {
    const key = docKey(collection, id);
    return this.serial(key, async () => {
      if (this.liveTombstone(key)) throw new PeatError('CONFLICT', `${key} is deleted (tombstone)`, { details: { key } });
      const entry = this.entry(key, true)!;
      let before = await this.load(key, entry);
      // integer milliseconds (spec §0)
      const now = Math.round(this.clock.now());
      const updateWins = this.updateWins(collection);
      let headsBefore = A.getHeads(before);
      if (headsBefore.length === 0) {
        const genesis = this.genesis(collection);
        if (genesis) {
          [before] = A.applyChanges(before, [genesis.change]);
          entry.doc = before;
          headsBefore = A.getHeads(before);
        }
      }
      const fn = build(before);
      let after = A.change(before, { time: Math.floor(now / 1000) }, (d) => {
        fn(d);
        if (d['_created_at'] === undefined) d['_created_at'] = now;
      });
      if (sameHeads(headsBefore, A.getHeads(after))) return headsBefore;
      // update-wins collections stamp every real write; a second change so a no-op write stays a no-op
      if (updateWins) {
        this.signLocal(key, after);
        after = A.change(after, (d) => {
          d['_updated_at'] = now;
        });
      }
      entry.doc = after;
      this.signLocal(key, after);
      await this.persist(key, entry, after);
      this.emit({ key, collection, id, origin: 'local' });
      return A.getHeads(after);
    });
  }

  private signLocal(key: string, doc: AnyDoc): void {
    const change = A.getLastLocalChange(doc);
    if (change && this.options.onLocalChange) this.options.onLocalChange(key, change);
  }

  /** Writes the leader register when `leader.round ≥` the stored round; resolves whether it wrote. */
  async setLeader(collection: string, id: string, leader: LeaderRegister, field = 'leader'): Promise<boolean> {
    let wrote = false;
    await this.changeWith(collection, id, (current) => {
      const stored = readLeader(current, field);
      return (d) => {
        wrote = writeLeader(d, stored, leader, field);
      };
    });
    return wrote;
  }

  private updateWins(collection: string): boolean {
    const d = this.policy(collection).deletion;
    return d.kind === 'tombstone' && d.resolution === 'update-wins';
  }

  /**
   * Deletes by the collection's policy: a tombstone (returned, for the sync engine to spread) or a soft delete
   * (`_deleted: true`, which syncs like any write). Resolves undefined for a soft delete.
   */
  async delete(collection: string, id: string, reason?: string): Promise<Tombstone | undefined> {
    const policy = this.policy(collection);
    if (policy.deletion.kind !== 'tombstone') {
      if (!this.has(docKey(collection, id))) return undefined;
      await this.change(collection, id, (d) => {
        d['_deleted'] = true;
      });
      return undefined;
    }
    const base = { collection, documentId: id, deletedAt: Math.round(this.clock.now()), deletedBy: this.options.nodeId, lamport: ++this.lamport };
    const t: Tombstone = reason === undefined ? base : { ...base, reason };
    await this.applyTombstone(t);
    return t;
  }

  // ---- tombstones ----

  /** The tombstone of `key` while it is live (not expired). */
  liveTombstone(key: string): Tombstone | undefined {
    const t = this.tombstones.get(key);
    if (!t) return undefined;
    const d = this.policy(t.collection).deletion;
    if (d.kind === 'tombstone' && this.clock.now() - t.deletedAt > d.ttlMs) return undefined;
    return t;
  }

  /** Every live tombstone. */
  liveTombstones(): Tombstone[] {
    return [...this.tombstones.keys()].map((k) => this.liveTombstone(k)).filter((t): t is Tombstone => t !== undefined);
  }

  /**
   * Records a tombstone (local or received) and removes the document. Update-wins collections keep a document
   * updated after the deletion, and the tombstone is void. Resolves whether the tombstone now holds.
   */
  applyTombstone(t: Tombstone, peer?: string): Promise<boolean> {
    const key = docKey(t.collection, t.documentId);
    return this.serial(key, async () => {
      const policy = this.policy(t.collection).deletion;
      if (policy.kind !== 'tombstone') return false;
      if (this.clock.now() - t.deletedAt > policy.ttlMs) return false;
      this.lamport = Math.max(this.lamport, t.lamport);
      const entry = this.entry(key, false);
      if (entry && policy.resolution === 'update-wins') {
        const doc = await this.load(key, entry);
        const updated = doc['_updated_at'];
        if (typeof updated === 'number' && updated > t.deletedAt) return false;
      }
      const existing = this.tombstones.get(key);
      if (!existing || existing.deletedAt < t.deletedAt || existing.lamport < t.lamport) {
        this.tombstones.set(key, t);
        await this.options.storage?.save([this.ns, TOMBSTONES, t.collection, t.documentId], new TextEncoder().encode(JSON.stringify(t)));
      }
      if (entry) {
        await this.dropDocument(key, entry);
        this.emit({ key, collection: t.collection, id: t.documentId, origin: peer === undefined ? 'local' : 'remote', ...(peer === undefined ? {} : { peer }), removed: true });
      }
      return true;
    });
  }

  private async dropDocument(key: string, entry: Entry): Promise<void> {
    this.release(entry);
    this.entries.delete(key);
    await this.options.storage?.removeRange(this.storageKey(key));
  }

  /**
   * Removes expired tombstones and expired implicit-TTL documents. Resolves how many of each went.
   * The sync engine calls it on its anti-entropy tick.
   */
  async sweep(): Promise<{ tombstones: number; documents: number }> {
    let tombstones = 0;
    let documents = 0;
    for (const [key, t] of [...this.tombstones]) {
      if (this.liveTombstone(key)) continue;
      this.tombstones.delete(key);
      await this.options.storage?.remove([this.ns, TOMBSTONES, t.collection, t.documentId]);
      tombstones++;
    }
    for (const key of [...this.entries.keys()]) {
      const { collection, id } = splitDocKey(key);
      if (this.policy(collection).deletion.kind !== 'implicit-ttl') continue;
      const gone = await this.serial(key, async () => {
        const entry = this.entries.get(key);
        if (!entry) return false;
        const doc = await this.load(key, entry);
        if (!this.expired(doc, collection)) return false;
        await this.dropDocument(key, entry);
        return true;
      });
      if (gone) {
        documents++;
        this.emit({ key, collection, id, origin: 'local', removed: true });
      }
    }
    return { tombstones, documents };
  }

  // ---- sync support (used by the sync engine) ----

  /** Heads of `key` (empty when unknown). */
  heads(key: string): Promise<string[]> {
    return this.withDoc(key, [], (doc) => A.getHeads(doc));
  }

  /** True when `key` may be offered to peers: known, not tombstoned, not expired. Soft-deleted docs still sync. */
  syncable(key: string): Promise<boolean> {
    const { collection } = splitDocKey(key);
    return this.withDoc(key, false, (doc) => !this.liveTombstone(key) && A.getHeads(doc).length > 0 && !this.expired(doc, collection));
  }

  /** `generateSyncMessage` on the live document. Unknown keys answer with an empty document's message. */
  generateSyncMessage(key: string, state: A.SyncState): Promise<[A.SyncState, Uint8Array | null]> {
    return this.serial(key, async () => {
      const entry = this.entry(key, false);
      const doc = entry ? await this.load(key, entry) : A.init<Record<string, unknown>>({ actor: this.options.actorId });
      const out = A.generateSyncMessage(doc, state);
      if (!entry) A.free(doc);
      return out;
    });
  }

  /**
   * Applies a (verified) sync message from `peer`. Resolves the new sync state and whether the document changed.
   * @throws PeatError `CONFLICT` when the document has a live delete-wins tombstone (nothing is applied).
   */
  receiveSyncMessage(key: string, state: A.SyncState, message: Uint8Array, peer: string): Promise<{ state: A.SyncState; changed: boolean }> {
    return this.serial(key, async () => {
      const blocked = this.blockedBy(key);
      if (blocked) throw new PeatError('CONFLICT', `${key} is deleted (tombstone); sync refused`, { details: { key } });
      const entry = this.entry(key, true)!;
      const before = await this.load(key, entry);
      const headsBefore = A.getHeads(before);
      let after: AnyDoc;
      let next: A.SyncState;
      try {
        [after, next] = A.receiveSyncMessage(before, state, message);
      } catch (cause) {
        throw new PeatError('DECODE_ERROR', `sync message for ${key} rejected by Automerge`, { cause });
      }
      entry.doc = after;
      const changed = !sameHeads(headsBefore, A.getHeads(after));
      if (changed) await this.afterRemote(key, entry, after, peer);
      else if (A.getHeads(after).length === 0) this.forgetEmpty(key, entry);
      return { state: next, changed };
    });
  }

  /**
   * Merges a snapshot (`save()` bytes) from `peer`. For single-writer documents the `_epoch` decides: higher
   * replaces our copy, lower is ignored (resolves `stale`), equal merges.
   * @throws PeatError `CONFLICT` (tombstoned), `DECODE_ERROR` (bytes do not load).
   */
  mergeSnapshot(key: string, bytes: Uint8Array, peer: string): Promise<'merged' | 'replaced' | 'unchanged' | 'stale'> {
    return this.serial(key, async () => {
      if (this.blockedBy(key)) throw new PeatError('CONFLICT', `${key} is deleted (tombstone); snapshot refused`, { details: { key } });
      let incoming: AnyDoc;
      try {
        incoming = A.load(bytes, { actor: this.options.actorId });
      } catch (cause) {
        throw new PeatError('DECODE_ERROR', `snapshot for ${key} does not load`, { cause });
      }
      const entry = this.entry(key, true)!;
      const local = await this.load(key, entry);
      const { collection } = splitDocKey(key);
      const single = isSingleWriter(this.policy(collection));
      const epochIn = Number(incoming['_epoch'] ?? 0);
      const epochLocal = Number(local['_epoch'] ?? 0);
      const hasLocal = A.getHeads(local).length > 0;
      let result: 'merged' | 'replaced' | 'unchanged' | 'stale';
      let next: AnyDoc;
      if (single && hasLocal && epochIn < epochLocal) {
        A.free(incoming);
        return 'stale';
      } else if (single && hasLocal && epochIn > epochLocal) {
        // storage first: until the swap below `local` stays the live document, so a failure leaves it intact
        try {
          await this.options.storage?.removeRange(this.storageKey(key, INCREMENT));
          entry.increments = 0;
          entry.incrementBytes = 0;
          await this.writeSnapshot(key, entry, incoming);
        } catch (e) {
          A.free(incoming);
          throw e;
        }
        entry.doc = incoming;
        A.free(local);
        next = incoming;
        result = 'replaced';
      } else {
        const headsBefore = A.getHeads(local);
        next = A.merge(local, incoming);
        A.free(incoming);
        result = sameHeads(headsBefore, A.getHeads(next)) ? 'unchanged' : 'merged';
      }
      entry.doc = next;
      if (result !== 'unchanged') await this.afterRemote(key, entry, next, peer, result === 'replaced');
      return result;
    });
  }

  private async afterRemote(key: string, entry: Entry, doc: AnyDoc, peer: string, snapshotWritten = false): Promise<void> {
    const { collection, id } = splitDocKey(key);
    // update-wins: a version newer than the tombstone voids it
    const t = this.tombstones.get(key);
    if (t && this.updateWins(collection)) {
      const updated = doc['_updated_at'];
      if (typeof updated === 'number' && updated > t.deletedAt) {
        this.tombstones.delete(key);
        await this.options.storage?.remove([this.ns, TOMBSTONES, t.collection, t.documentId]);
      } else {
        await this.dropDocument(key, entry);
        return;
      }
    }
    if (!snapshotWritten) await this.persist(key, entry, doc);
    this.emit({ key, collection, id, origin: 'remote', peer });
  }

  private forgetEmpty(key: string, entry: Entry): void {
    this.release(entry);
    this.entries.delete(key);
  }

  /** A live delete-wins tombstone blocks every incoming version; update-wins ones are decided after merging. */
  private blockedBy(key: string): Tombstone | undefined {
    const t = this.liveTombstone(key);
    if (!t) return undefined;
    const d = this.policy(t.collection).deletion;
    return d.kind === 'tombstone' && d.resolution === 'delete-wins' ? t : undefined;
  }

  /** `save()` of the document (for LatestOnly snapshots), its heads and, when asked, its changes. Undefined when unknown. */
  snapshot(key: string, withChanges = false): Promise<{ bytes: Uint8Array; heads: string[]; changes: ChangeInfo[] } | undefined> {
    return this.withDoc<{ bytes: Uint8Array; heads: string[]; changes: ChangeInfo[] } | undefined>(key, undefined, (doc) => ({
      bytes: A.save(doc),
      heads: A.getHeads(doc),
      changes: withChanges ? changesInSnapshot(doc) : [],
    }));
  }

  /** Re-encodes the document's storage as one snapshot (multi-writer documents are never rebased). */
  compact(key: string): Promise<void> {
    return this.withDoc(key, undefined, (doc, entry) => this.writeSnapshot(key, entry, doc));
  }

  /**
   * Rebases a single-writer document we own: a fresh history holding the current value with `_epoch + 1`.
   * Peers replace their copy when they see the higher epoch. @throws PeatError `INVALID_ARGUMENT` for a
   * multi-writer collection (rebasing those would resurrect stale values when histories merge).
   */
  rebase(collection: string, id: string): Promise<number> {
    const key = docKey(collection, id);
    if (!isSingleWriter(this.policy(collection))) {
      throw new PeatError('INVALID_ARGUMENT', `${collection} has several writers; only single-writer documents are rebased`);
    }
    return this.serial(key, async () => {
      const entry = this.entry(key, false);
      if (!entry) throw new PeatError('NOT_FOUND', `${key} does not exist`);
      const old = await this.load(key, entry);
      const value = toPlain(A.toJS(old)) as Record<string, unknown>;
      const epoch = Number(value['_epoch'] ?? 0) + 1;
      const fresh = A.change(A.init<Record<string, unknown>>({ actor: this.options.actorId }), (d) => {
        writeDiff(d, value);
        for (const f of SYSTEM_FIELDS) if (value[f] !== undefined) d[f] = value[f];
        d['_epoch'] = epoch;
      });
      entry.doc = fresh;
      A.free(old);
      entry.signatures = new Map();
      this.signLocal(key, fresh);
      await this.options.storage?.removeRange(this.storageKey(key, SIGNATURES));
      await this.writeSnapshot(key, entry, fresh);
      this.emit({ key, collection, id, origin: 'local' });
      return epoch;
    });
  }

  /**
   * Calls `fn` with the live Automerge document of `key` in its serial section and resolves what `fn` returns
   * (undefined when the key is unknown). `fn` must be synchronous and must not keep the document: it may be freed
   * (evicted, deleted, replaced) as soon as `fn` returns. @throws PeatError `INVALID_ARGUMENT` when `fn` returns a
   * promise; errors of `fn` pass through.
   */
  inspect<T>(key: string, fn: (doc: A.Doc<Record<string, unknown>>) => T): Promise<T | undefined> {
    return this.withDoc<T | undefined>(key, undefined, (doc) => {
      const out = fn(doc);
      if (out instanceof Promise) throw new PeatError('INVALID_ARGUMENT', 'inspect takes a synchronous function; the document is not valid after it returns');
      return out;
    });
  }

  // ---- change signatures (kept beside each document) ----

  /** Marks a signature as being computed, so the document is not evicted before it is stored. */
  beginSignature(key: string): void {
    const e = this.entry(key, false);
    if (e) e.pendingSignatures++;
  }

  /** Stores signatures of `key`'s changes (persisted beside the document). */
  addSignatures(key: string, signatures: readonly ChangeSignature[], fromPending = false): Promise<void> {
    return this.serial(key, async () => {
      const entry = this.entry(key, false);
      if (!entry) return;
      if (fromPending) entry.pendingSignatures = Math.max(0, entry.pendingSignatures - 1);
      if (!entry.doc) await this.load(key, entry);
      const fresh = signatures.filter((s) => !entry.signatures.has(toHex(s.hash)));
      if (fresh.length === 0) return;
      for (const s of fresh) entry.signatures.set(toHex(s.hash), { hash: s.hash.slice(), signer: s.signer.slice(), signature: s.signature.slice() });
      await this.options.storage?.save(this.storageKey(key, SIGNATURES, pad(entry.nextIncrement++)), encodeSignatureLog(fresh));
    });
  }

  /** Signatures we hold for the given change hashes (hex), in order; missing ones are left out. */
  signaturesFor(key: string, hashes: readonly string[]): Promise<ChangeSignature[]> {
    return this.serial(key, async () => {
      const entry = this.entries.get(key);
      if (!entry) return [];
      if (!entry.signaturesLoaded) await this.load(key, entry);
      const out: ChangeSignature[] = [];
      for (const h of hashes) {
        const s = entry.signatures.get(h);
        if (s) out.push(s);
      }
      return out;
    });
  }
}

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((h) => s.has(h));
}

function encodeSignatureLog(entries: readonly ChangeSignature[]): Uint8Array {
  return concatBytes(entries.flatMap((e) => [e.hash, e.signer, e.signature]));
}

function decodeSignatureLog(bytes: Uint8Array): ChangeSignature[] {
  const out: ChangeSignature[] = [];
  for (let at = 0; at + 128 <= bytes.length; at += 128) {
    out.push({ hash: bytes.slice(at, at + 32), signer: bytes.slice(at + 32, at + 64), signature: bytes.slice(at + 64, at + 128) });
  }
  return out;
}
