// SPDX-License-Identifier: Apache-2.0
// Hybrid logical clock (spec §3.7): one emitted form `<ms>:<logical>:<node>`, every known form parsed.
import type { Clock } from '@ecps/core';
import { systemClock } from '@ecps/core';

/** A parsed HLC; `opaque` values are kept verbatim and never ordered. */
export type HlcValue =
  | { readonly kind: 'ordered'; readonly physicalMs: number; readonly logical: number; readonly node: string }
  | { readonly kind: 'opaque'; readonly raw: string };

/** Parses any accepted HLC form; never throws (unknown forms are opaque). */
export function parseHlc(raw: string): HlcValue {
  let m = /^(\d+):(\d+):(.*)$/s.exec(raw);
  if (m) return { kind: 'ordered', physicalMs: Number(m[1]), logical: Number(m[2]), node: m[3]! };
  m = /^HLC:(\d+):(\d+):(.*)$/s.exec(raw);
  if (m) return { kind: 'ordered', physicalMs: Math.floor(Number(m[1]) / 1000), logical: Number(m[2]), node: m[3]! };
  m = /^(\d+)\.(\d+)\.(.+)$/s.exec(raw);
  if (m) return { kind: 'ordered', physicalMs: Number(m[1]) * 1000, logical: Number(m[2]), node: m[3]! };
  if (/^\d+$/.test(raw)) return { kind: 'ordered', physicalMs: Number(raw), logical: 0, node: '' };
  return { kind: 'opaque', raw };
}

/** Formats the one form we emit. */
export function formatHlc(physicalMs: number, logical: number, node: string): string {
  return `${physicalMs}:${logical}:${node}`;
}

/** Orders two HLC strings; returns undefined when either is opaque (unordered). */
export function compareHlc(a: string, b: string): number | undefined {
  const x = parseHlc(a);
  const y = parseHlc(b);
  if (x.kind === 'opaque' || y.kind === 'opaque') return undefined;
  if (x.physicalMs !== y.physicalMs) return x.physicalMs < y.physicalMs ? -1 : 1;
  if (x.logical !== y.logical) return x.logical < y.logical ? -1 : 1;
  return x.node < y.node ? -1 : x.node > y.node ? 1 : 0;
}

/** A hybrid logical clock for one node. Advisory only: never use it for correctness-critical ordering. */
export class HybridLogicalClock {
  private l = 0;
  private c = 0;

  constructor(
    readonly node: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Timestamp for a local or send event. */
  now(): string {
    const pt = Math.floor(this.clock.now());
    const l2 = Math.max(this.l, pt);
    this.c = l2 === this.l ? this.c + 1 : 0;
    this.l = l2;
    return formatHlc(this.l, this.c, this.node);
  }

  /** Merges a received timestamp (opaque ones are ignored) and returns the new local timestamp. */
  receive(remote: string): string {
    const r = parseHlc(remote);
    const pt = Math.floor(this.clock.now());
    if (r.kind === 'opaque') return this.now();
    const { physicalMs: lm, logical: cm } = r;
    const l2 = Math.max(this.l, lm, pt);
    if (l2 === this.l && l2 === lm) this.c = Math.max(this.c, cm) + 1;
    else if (l2 === this.l) this.c += 1;
    else if (l2 === lm) this.c = cm + 1;
    else this.c = 0;
    this.l = l2;
    return formatHlc(this.l, this.c, this.node);
  }
}
