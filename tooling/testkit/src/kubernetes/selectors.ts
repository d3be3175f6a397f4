// SPDX-License-Identifier: Apache-2.0
// Label selectors (equality- and set-based, as `?labelSelector=`) and field selectors (`?fieldSelector=`).

type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

/** Thrown for a selector that does not parse; the server answers 400 BadRequest. */
export class SelectorError extends Error {}

/** Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h` into a predicate on a label map. */
export function parseLabelSelector(text: string | null): (labels: Record<string, string> | undefined) => boolean {
  if (!text || !text.trim()) return () => true;
  const requirements: Requirement[] = [];
  for (const part of splitTopLevel(text)) {
    const term = part.trim();
    let m: RegExpMatchArray | null;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term))) {
      requirements.push({ key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()).filter(Boolean) });
    } else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(term))) {
      requirements.push({ key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] });
    } else if ((m = /^!([\w./-]+)$/.exec(term))) {
      requirements.push({ key: m[1]!, op: '!exists' });
    } else if ((m = /^([\w./-]+)$/.exec(term))) {
      requirements.push({ key: m[1]!, op: 'exists' });
    } else {
      throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`);
    }
  }
  return (labels = {}) =>
    requirements.every((r) => {
      const has = Object.prototype.hasOwnProperty.call(labels, r.key);
      switch (r.op) {
        case 'exists':
          return has;
        case '!exists':
          return !has;
        case 'in':
          return has && r.values.includes(labels[r.key]!);
        case 'notin':
          return !has || !r.values.includes(labels[r.key]!);
      }
    });
}

/** Parses `metadata.name=x,status.phase!=Running` into a predicate on an object (dotted paths, string compare). */
export function parseFieldSelector(text: string | null): (object: unknown) => boolean {
  if (!text || !text.trim()) return () => true;
  const terms = text.split(',').map((part) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(part.trim());
    if (!m) throw new SelectorError(`invalid field selector: ${JSON.stringify(part)}`);
    return { path: m[1]!.split('.'), negate: m[2] === '!=', value: m[3]! };
  });
  return (object) =>
    terms.every((t) => {
      let v: unknown = object;
      for (const key of t.path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
      return (String(v ?? '') === t.value) !== t.negate;
    });
}

/** Selector labels of a `matchLabels`/`matchExpressions` label selector, as the predicate of the string form. */
export function labelSelectorString(selector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const op = e.operator.toLowerCase();
    if (op === 'in' || op === 'notin') parts.push(`${e.key} ${op} (${(e.values ?? []).join(',')})`);
    else parts.push(op === 'exists' ? e.key : `!${e.key}`);
  }
  return parts.join(',');
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
