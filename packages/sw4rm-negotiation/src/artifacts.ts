// SPDX-License-Identifier: Apache-2.0
// ActivityService (spec §3.14): negotiation artifacts, append-only, unique (negotiation_id, kind, version).
import type { AppendArtifactRequest, AppendArtifactResponse, Artifact, ListArtifactsRequest, ListArtifactsResponse } from '@ecps/sw4rm/proto';

/** Append-only artifact log per negotiation. */
export class ArtifactStore {
  private readonly items: Artifact[] = [];

  async appendArtifact(req: AppendArtifactRequest): Promise<AppendArtifactResponse> {
    const a = req.artifact;
    if (!a?.negotiationId || !a.kind) return { ok: false, reason: 'validation_error: artifact.negotiation_id and kind are required' };
    if (this.items.some((x) => x.negotiationId === a.negotiationId && x.kind === a.kind && x.version === a.version)) {
      return { ok: false, reason: `duplicate_detected: ${a.negotiationId}/${a.kind}/${a.version}` };
    }
    this.items.push({ ...a, createdAt: a.createdAt || new Date().toISOString() });
    return { ok: true, reason: '' };
  }

  async listArtifacts(req: ListArtifactsRequest): Promise<ListArtifactsResponse> {
    return { items: this.items.filter((a) => a.negotiationId === req.negotiationId && (!req.kind || a.kind === req.kind)) };
  }
}
