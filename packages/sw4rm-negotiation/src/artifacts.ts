// SPDX-License-Identifier: Apache-2.0
// ActivityService (spec §3.14): negotiation artifacts, append-only, unique (negotiation_id, kind, version). With a
// KvStore each artifact is one record, durable before `ok=true`, restored in append order after a restart.
import { EcpsError } from '@ecps/core';
import { KvJsonTable } from '@ecps/sw4rm';
import type { KvStore } from '@ecps/sw4rm';
import { Artifact as ArtifactCodec } from '@ecps/sw4rm/proto';
import type { AppendArtifactRequest, AppendArtifactResponse, Artifact, ListArtifactsRequest, ListArtifactsResponse } from '@ecps/sw4rm/proto';

/** Options of {@link ArtifactStore.open}. */
export interface ArtifactStoreOptions {
  /** Durable store (namespace `activity/artifacts`); memory only when absent. */
  store?: KvStore;
  /** Artifacts kept at most (further appends are refused, nothing is dropped); default 10 000 [ours]. */
  maxArtifacts?: number;
  /** Injectable wall clock for `created_at` when the caller sets none; default `Date.now`. */
  now?: () => number;
}

const identity = (a: Pick<Artifact, 'negotiationId' | 'kind' | 'version'>) => `${a.negotiationId}\u0000${a.kind}\u0000${a.version}`;

/** Append-only artifact log per negotiation. */
export class ArtifactStore {
  private readonly items: Artifact[] = [];
  /** (negotiation, kind, version) of every stored or being-stored artifact. */
  private readonly taken = new Set<string>();
  private readonly table: KvJsonTable<unknown> | undefined;
  private seq = 0;

  /** Memory only without `options.store`; use {@link ArtifactStore.open} to restore what a store holds. */
  constructor(private readonly options: ArtifactStoreOptions = {}) {
    this.table = options.store ? new KvJsonTable(options.store, 'activity/artifacts') : undefined;
  }

  /** A store with its persisted artifacts restored in append order. @throws EcpsError IO_ERROR, LOG_CORRUPT. */
  static async open(options: ArtifactStoreOptions = {}): Promise<ArtifactStore> {
    const s = new ArtifactStore(options);
    for (const [key, value] of (await s.table?.load()) ?? []) {
      const a = ArtifactCodec.fromJSON(value);
      s.items.push(a);
      s.taken.add(identity(a));
      s.seq = Number(key) + 1;
    }
    return s;
  }

  /** @throws EcpsError IO_ERROR when the store cannot write it (nothing is recorded then). */
  async appendArtifact(req: AppendArtifactRequest): Promise<AppendArtifactResponse> {
    const a = req.artifact;
    if (!a?.negotiationId || !a.kind) return { ok: false, reason: 'validation_error: artifact.negotiation_id and kind are required' };
    const id = identity(a);
    if (this.taken.has(id)) return { ok: false, reason: `duplicate_detected: ${a.negotiationId}/${a.kind}/${a.version}` };
    const max = this.options.maxArtifacts ?? 10_000;
    if (this.taken.size >= max) return { ok: false, reason: `capacity_exceeded: ${max} artifacts stored` };
    const stored: Artifact = { ...a, createdAt: a.createdAt || new Date((this.options.now ?? Date.now)()).toISOString() };
    this.taken.add(id); // before the await: a concurrent duplicate is refused
    try {
      await this.table?.save(String(this.seq++).padStart(12, '0'), ArtifactCodec.toJSON(stored));
    } catch (err) {
      this.taken.delete(id);
      throw err instanceof EcpsError ? err : new EcpsError('IO_ERROR', `artifact not stored: ${String(err)}`, { cause: err });
    }
    this.items.push(stored);
    return { ok: true, reason: '' };
  }

  async listArtifacts(req: ListArtifactsRequest): Promise<ListArtifactsResponse> {
    return { items: this.items.filter((a) => a.negotiationId === req.negotiationId && (!req.kind || a.kind === req.kind)) };
  }
}
