// SPDX-License-Identifier: Apache-2.0
// What a composition rule is, the context it runs in, and the helpers every rule shares: deterministic output
// ids, metadata access and the "best of a type" choice.
import { createHash } from 'node:crypto';
import { CapabilityType, authorityRank, authorityScore, maxAuthority } from '@ecps/peat';
import type { AuthorityLevel, Capability, NodeConfig } from '@ecps/peat';

export type CompositionKind = 'additive' | 'emergent' | 'redundant' | 'constraint';

/** Who is composing: the nodes whose capabilities are the input, and their configurations (for operators). */
export interface CompositionContext {
  readonly node_ids: readonly string[];
  readonly cell_id?: string | null;
  /** Unix ms; the `registered_at` of composed capabilities. */
  readonly timestamp: number;
  readonly node_configs: readonly NodeConfig[];
}

export interface CompositionResult {
  readonly pattern: string;
  readonly composed_capabilities: readonly Capability[];
  readonly confidence: number;
  /** Ids of the input capabilities. */
  readonly contributing_capabilities: readonly string[];
}

/** One rule: a trigger (`appliesTo`) and a formula (`compose`). */
export interface CompositionRule {
  /** The `pattern` metadata of what it composes. */
  readonly name: string;
  readonly kind: CompositionKind;
  readonly description: string;
  appliesTo(caps: readonly Capability[], ctx: CompositionContext): boolean;
  /** Only called when `appliesTo` holds. */
  compose(caps: readonly Capability[], ctx: CompositionContext): CompositionResult;
}

/** The highest operator authority among the context's nodes, and the node holding it. */
export function maxOperatorAuthority(ctx: CompositionContext): { level: AuthorityLevel; node: string | null } {
  let level: AuthorityLevel = 'Unspecified';
  let node: string | null = null;
  for (const c of ctx.node_configs) {
    const a = maxAuthority(c);
    if (authorityRank(a) > authorityRank(level)) {
      level = a;
      node = c.id;
    }
  }
  return { level, node };
}

export function hasCommander(ctx: CompositionContext): boolean {
  return maxOperatorAuthority(ctx).level === 'Commander';
}

/** `round(authority_score × 5)` of the highest authority present. */
export function authorizationBonus(ctx: CompositionContext): number {
  return Math.round(authorityScore(maxOperatorAuthority(ctx).level) * 5);
}

/** `<pattern>:` + the first 16 hex of sha256 over the sorted input ids joined by `,`. */
export function composedId(pattern: string, inputIds: readonly string[]): string {
  return `${pattern}:${createHash('sha256').update([...inputIds].sort().join(',')).digest('hex').slice(0, 16)}`;
}

/** A number in the capability's metadata, or undefined. */
export function metaNumber(c: Capability, key: string): number | undefined {
  const v = c.metadata[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function metaString(c: Capability, key: string): string | undefined {
  const v = c.metadata[key];
  return typeof v === 'string' ? v : undefined;
}

export function ofType(caps: readonly Capability[], type: number, minConfidence = 0): Capability[] {
  return caps.filter((c) => c.capability_type === type && c.confidence >= minConfidence);
}

/** The highest-confidence capability (the first on ties), or undefined. */
export function best(caps: readonly Capability[]): Capability | undefined {
  let out: Capability | undefined;
  for (const c of caps) if (!out || c.confidence > out.confidence) out = c;
  return out;
}

export const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
export const combinedProbability = (xs: readonly number[]): number => 1 - xs.reduce((p, x) => p * (1 - x), 1);

/** One composed capability: EMERGENT, with the metadata every composition carries. */
export function composed(
  rule: Pick<CompositionRule, 'name' | 'kind' | 'description'>,
  inputs: readonly Capability[],
  confidence: number,
  ctx: CompositionContext,
  extra: Readonly<Record<string, unknown>> = {},
): CompositionResult {
  const ids = inputs.map((c) => c.id);
  const cap: Capability = {
    id: composedId(rule.name, ids),
    name: rule.name,
    capability_type: CapabilityType.EMERGENT,
    confidence,
    metadata: { composition_type: rule.kind, pattern: rule.name, inputs: [...ids], description: rule.description, ...extra },
    registered_at: ctx.timestamp,
  };
  return { pattern: rule.name, composed_capabilities: [cap], confidence, contributing_capabilities: ids };
}
