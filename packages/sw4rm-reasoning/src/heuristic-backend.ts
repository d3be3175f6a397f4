// SPDX-License-Identifier: Apache-2.0
// The default ReasoningProxy backend: deterministic, explainable text analysis, no model.
//  - CheckParallelism: scopes are lists of paths/globs (optionally `repo:<id>`); two scopes conflict where one
//    path prefix contains the other. confidence = 1 without conflicts, else 0.5·(1 − conflicting/compared pairs).
//  - EvaluateDebate: agreement of two proposals = cosine similarity of their term vectors, raised to a power that
//    grows with the debate intensity (stricter debates need closer agreement).
//  - Summarize: extractive — sentences scored by the frequency of their terms across the session, the best kept
//    in their original order within max_tokens.
import type { DebateEvaluateRequest, SummarizeRequest } from '@ecps/sw4rm/proto';
import type { ReasoningBackend } from './backend';
import { cosine, sentences, termVector, tokenCount, words } from './text';

const INTENSITY_EXPONENT: Record<string, number> = { LOWEST: 0.5, LOW: 0.75, MEDIUM: 1, HIGH: 1.5, HIGHEST: 2 };
export const HEURISTIC_MODEL = 'ecps-extractive-v1';

interface Scope {
  repos: Set<string>;
  paths: string[];
}

function parseScope(text: string): Scope {
  const repos = new Set<string>();
  const paths: string[] = [];
  for (const raw of text.split(/[\s,;]+/).filter(Boolean)) {
    if (raw.startsWith('repo:')) repos.add(raw.slice(5));
    else {
      const prefix = raw.replace(/^\.\//, '').split(/[*?[{]/)[0]!.replace(/\/+$/, '');
      paths.push(prefix);
    }
  }
  return { repos, paths };
}

/** Two path prefixes overlap when one is the other or a directory above it ('' is the whole tree). */
function overlaps(a: string, b: string): boolean {
  if (a === '' || b === '' || a === b) return true;
  return a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/** The deterministic default backend. */
export class HeuristicReasoning implements ReasoningBackend {
  async checkParallelism(scopeA: string, scopeB: string): Promise<{ confidence: number; notes: string }> {
    const a = parseScope(scopeA);
    const b = parseScope(scopeB);
    if (a.repos.size && b.repos.size && ![...a.repos].some((r) => b.repos.has(r))) return { confidence: 1, notes: 'different repositories' };
    if (!a.paths.length || !b.paths.length) return { confidence: 0, notes: 'a scope names no paths: it may touch anything' };
    const conflicts: string[] = [];
    for (const x of a.paths) for (const y of b.paths) if (overlaps(x, y)) conflicts.push(`${x || '/'} ~ ${y || '/'}`);
    if (!conflicts.length) return { confidence: 1, notes: 'disjoint paths' };
    const ratio = conflicts.length / (a.paths.length * b.paths.length);
    return { confidence: 0.5 * (1 - ratio), notes: `overlapping: ${conflicts.slice(0, 10).join('; ')}` };
  }

  async evaluateDebate(req: DebateEvaluateRequest): Promise<{ confidence: number; notes: string }> {
    const va = termVector(req.proposalA);
    const vb = termVector(req.proposalB);
    const similarity = cosine(va, vb);
    const exponent = INTENSITY_EXPONENT[req.intensity.toUpperCase()] ?? 1;
    const onlyA = [...va.keys()].filter((w) => !vb.has(w)).slice(0, 5);
    const onlyB = [...vb.keys()].filter((w) => !va.has(w)).slice(0, 5);
    return {
      confidence: similarity ** exponent,
      notes: `cosine ${similarity.toFixed(3)}; only in A: ${onlyA.join(', ') || '-'}; only in B: ${onlyB.join(', ') || '-'}`,
    };
  }

  async summarize(req: SummarizeRequest): Promise<{ summary: string; tokens: number; costCents: number; model: string }> {
    const budget = req.maxTokens || 200;
    const all = req.segments.flatMap((seg, i) => sentences(seg.content).map((text, j) => ({ text, order: i * 1e6 + j })));
    const freq = termVector(req.segments.map((s) => s.content).join('\n'));
    const scored = all.map((s) => {
      const w = words(s.text);
      const score = w.length ? w.reduce((sum, x) => sum + (freq.get(x) ?? 0), 0) / Math.sqrt(w.length) : 0;
      return { ...s, score };
    });
    const chosen: typeof scored = [];
    let used = 0;
    for (const s of [...scored].sort((x, y) => y.score - x.score || x.order - y.order)) {
      const n = tokenCount(s.text);
      if (used + n > budget) continue;
      chosen.push(s);
      used += n;
    }
    const summary = chosen
      .sort((x, y) => x.order - y.order)
      .map((s) => s.text)
      .join(' ');
    return { summary, tokens: tokenCount(summary), costCents: 0, model: HEURISTIC_MODEL };
  }
}
