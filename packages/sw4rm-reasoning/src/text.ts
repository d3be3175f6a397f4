// SPDX-License-Identifier: Apache-2.0
// Small text tools for the deterministic backend: words, term vectors, cosine similarity, sentences.

const STOPWORDS = new Set(
  'a an and are as at be but by for from has have if in into is it its of on or that the their then there these this to was were will with we you they our not no do does can should would could may might must shall than which who whom what when where why how all any each both few more most other some such only own same so too very just also'.split(' '),
);

/** Lower-case words (letters and digits), stopwords removed. */
export function words(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => !STOPWORDS.has(w));
}

/** Term frequencies. */
export function termVector(text: string): Map<string, number> {
  const v = new Map<string, number>();
  for (const w of words(text)) v.set(w, (v.get(w) ?? 0) + 1);
  return v;
}

/** Cosine similarity of two term vectors, in [0,1] (0 when either is empty). */
export function cosine(a: Map<string, number>, b: Map<string, number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const [w, x] of a) {
    na += x * x;
    dot += x * (b.get(w) ?? 0);
  }
  for (const x of b.values()) nb += x * x;
  return na && nb ? Math.min(1, dot / Math.sqrt(na * nb)) : 0;
}

/** Sentences of a text (split after . ! ? or line breaks). */
export function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|\n+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Whitespace-separated tokens (the unit of `max_tokens` and `tokens`). */
export function tokenCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}
