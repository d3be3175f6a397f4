// SPDX-License-Identifier: Apache-2.0
// The intent grammar: normalization, whole-word patterns tried in order, bot references resolved against the
// registry with a confidence per kind of match, and the decision (execute, confirm, clarify) that follows.
import { BOT_ROLES, type BotRole, type BotStatus } from '@ecps/codex-registry';

export const INTENTS = ['start_bot', 'stop_bot', 'restart_bot', 'bot_status', 'list_bots', 'create_bot', 'help', 'confirm', 'deny', 'unknown'] as const;
export type Intent = (typeof INTENTS)[number];

export interface ParsedIntent {
  intent: Intent;
  confidence: number;
  entities: { bot_id?: string; bot_ref?: string; role?: BotRole; name?: string; status_filter?: BotStatus; blueprint?: string; id?: string };
  alternatives: { intent: Intent; bot_id?: string; confidence: number }[];
  needs_confirmation: boolean;
  needs_clarification: boolean;
  clarification?: string;
}

export interface BotRef {
  id: string;
  name: string;
}

export interface ParseContext {
  bots: readonly BotRef[];
  /** The bot the session talked about last (for `it`, `its`, `that bot`). */
  lastBot?: string | null;
  /** Multiplies the confidence (a speech transcript's; 1 for text). */
  transcriptConfidence?: number;
}

export const HELP_TEXT =
  "Sorry, I didn't understand. Try: start bot <name>, stop bot <name>, status of <name>, list bots, create a collector bot named <name>.";
export const EXECUTE_AT = 0.85;
export const CONFIRM_AT = 0.6;

/** NFKC, lower case, collapsed whitespace, no trailing `?!.`, `what's` → `what is`. */
export function normalize(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[?!.]+$/, '')
    .trim()
    .replace(/\bwhat's\b/g, 'what is');
}

/** `News Feed!` → `news-feed`: lower case, spaces to `-`, other characters dropped, at most 64. */
export function slug(name: string): string {
  return name
    .toLowerCase()
    .trim()
    .replace(/\s+/g, '-')
    .replace(/[^a-z0-9_-]/g, '')
    .slice(0, 64);
}

/** Optimal-string-alignment Damerau–Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

const FILLERS = new Set(['the', 'bot', 'please']);
const LEADING = [['can', 'you'], ['could', 'you'], ['please']];
const PRONOUNS = new Set(['it', 'its', 'that bot', 'that', 'this bot']);
const VERBS: [Intent, string[][]][] = [
  ['start_bot', [['start'], ['run'], ['launch'], ['deploy'], ['boot'], ['spin', 'up']]],
  ['stop_bot', [['stop'], ['halt'], ['kill'], ['terminate'], ['shut', 'down'], ['shutdown']]],
  ['restart_bot', [['restart'], ['reboot'], ['bounce']]],
];

interface Candidate {
  id: string;
  score: number;
}

const flat = (s: string) => s.replace(/[\s_-]+/g, ' ').trim();

/** Every bot `ref` may mean, best first, with the confidence of its kind of match. */
export function resolveBot(ref: string, context: ParseContext): Candidate[] {
  const r = ref.trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  if (!r) return [];
  if (PRONOUNS.has(r)) return context.lastBot ? [{ id: context.lastBot, score: 0.9 }] : [];
  const exactId = context.bots.find((b) => b.id === r);
  if (exactId) return [{ id: exactId.id, score: 1 }];
  const exactName = context.bots.find((b) => b.name.toLowerCase() === r);
  if (exactName) return [{ id: exactName.id, score: 0.95 }];
  const same = context.bots.filter((b) => flat(b.id) === flat(r) || flat(b.name.toLowerCase()) === flat(r));
  if (same.length > 0) return same.map((b) => ({ id: b.id, score: 0.9 }));
  if (r.length >= 3) {
    const prefixed = context.bots.filter((b) => b.id.startsWith(r) || b.name.toLowerCase().startsWith(r) || flat(b.name.toLowerCase()).startsWith(flat(r)));
    if (prefixed.length > 0) return prefixed.map((b) => ({ id: b.id, score: 0.75 }));
  }
  const near = context.bots.filter((b) =>
    [b.id, b.name.toLowerCase()].some((target) => {
      const distance = editDistance(flat(r), flat(target));
      return distance <= 2 && distance <= Math.floor(target.length / 3);
    }),
  );
  return near.map((b) => ({ id: b.id, score: 0.6 }));
}

function startsWith(tokens: string[], words: string[]): boolean {
  return words.every((w, i) => tokens[i] === w);
}

/** Drops the leading `can you`/`could you`/`please`. */
function stripLeading(tokens: string[], original: string[]): void {
  for (let again = true; again; ) {
    again = false;
    for (const lead of LEADING) {
      if (tokens.length > lead.length && startsWith(tokens, lead)) {
        tokens.splice(0, lead.length);
        original.splice(0, lead.length);
        again = true;
      }
    }
  }
}

/** The bot reference among `tokens`: a quoted string, or what is left once fillers are dropped at either end. */
function botRef(tokens: string[]): string {
  const joined = tokens.join(' ');
  const quoted = /^"([^"]+)"$/.exec(joined);
  if (quoted) return quoted[1]!;
  if (PRONOUNS.has(joined)) return joined;
  const t = [...tokens];
  while (t.length > 0 && FILLERS.has(t[0]!)) t.shift();
  while (t.length > 0 && FILLERS.has(t.at(-1)!)) t.pop();
  return t.join(' ');
}

interface Match {
  intent: Intent;
  ref?: string;
  entities?: ParsedIntent['entities'];
}

function matchGrammar(tokens: string[], original: string[]): Match | null {
  const s = tokens.join(' ');
  if (/^(yes|y|confirm|do it)$/.test(s)) return { intent: 'confirm' };
  if (/^(no|n|cancel)$/.test(s)) return { intent: 'deny' };
  if (/^(help|what can you do)$/.test(s)) return { intent: 'help' };
  for (const [intent, verbs] of VERBS) {
    for (const verb of verbs) {
      if (tokens.length > verb.length && startsWith(tokens, verb)) {
        const ref = botRef(tokens.slice(verb.length));
        if (ref) return { intent, ref };
      }
    }
  }
  let m: RegExpExecArray | null;
  if ((m = /^status of (.+)$/.exec(s)) || (m = /^(.+) status$/.exec(s)) || (m = /^how is (.+?)( doing)?$/.exec(s)) || (m = /^is (.+) running$/.exec(s)) || (m = /^check (?:on )?(.+)$/.exec(s))) {
    const ref = botRef(m[1]!.split(' '));
    if (ref) return { intent: 'bot_status', ref };
  }
  if (/^list (all )?bots$/.test(s) || /^show (me )?(all )?(the )?bots$/.test(s) || /^what bots( are there| exist)?$/.test(s)) return { intent: 'list_bots', entities: {} };
  if ((m = /^which bots are (running|stopped|failed)$/.exec(s))) return { intent: 'list_bots', entities: { status_filter: m[1] as BotStatus } };
  m = /^(create|make|build|add|new) (?:(?:a|an) )?(?:([a-z]+) )?bot (named|called) (.+?)(?: with blueprint (\S+))?$/.exec(s);
  if (m && (m[2] === undefined || (BOT_ROLES as readonly string[]).includes(m[2]))) {
    // The name keeps the user's case: take it from the original tokens at the same position.
    const nameStart = tokens.indexOf(m[3]!, tokens.indexOf('bot')) + 1;
    const nameWords = m[4]!.split(' ').length;
    const name = original.slice(nameStart, nameStart + nameWords).join(' ');
    const id = slug(name);
    return {
      intent: 'create_bot',
      entities: { ...(m[2] ? { role: m[2] as BotRole } : {}), name, id, blueprint: m[5] ?? `${id}/main.py` },
    };
  }
  return null;
}

/** A verb synonym and exactly one resolvable bot anywhere in the sentence (intent confidence 0.7). */
function keywordFallback(tokens: string[], context: ParseContext): { intent: Intent; candidates: Candidate[] } | null {
  const intent = VERBS.find(([, verbs]) => verbs.some((v) => tokens.some((_, i) => startsWith(tokens.slice(i), v))))?.[0];
  if (!intent) return null;
  const found = new Map<string, number>();
  for (let i = 0; i < tokens.length; i++) {
    for (let n = 1; n <= 3 && i + n <= tokens.length; n++) {
      const phrase = tokens.slice(i, i + n).join(' ');
      if (FILLERS.has(phrase) || phrase.length < 2) continue;
      const exact = context.bots.find((b) => b.id === phrase || b.name.toLowerCase() === phrase);
      if (exact) found.set(exact.id, Math.max(found.get(exact.id) ?? 0, exact.id === phrase ? 1 : 0.95));
    }
  }
  if (found.size !== 1) return null;
  const [id, score] = [...found][0]!;
  return { intent, candidates: [{ id, score }] };
}

/**
 * Parses one utterance. Confidence = intent confidence (1 for a grammar match, 0.7 for a keyword fallback) × entity
 * confidence × transcript confidence. ≥ 0.85 executes, ≥ 0.6 asks for confirmation, below asks for clarification;
 * two candidate bots within 0.05 of the best always ask which one.
 */
export function parseIntent(text: string, context: ParseContext): ParsedIntent {
  const transcript = context.transcriptConfidence ?? 1;
  const norm = normalize(text);
  const tokens = norm ? norm.split(' ') : [];
  const original = text.normalize('NFKC').replace(/\s+/g, ' ').trim().replace(/[?!.]+$/, '').trim().split(' ');
  stripLeading(tokens, original);

  const base = (intent: Intent, confidence: number): ParsedIntent => ({
    intent,
    confidence,
    entities: {},
    alternatives: [],
    needs_confirmation: false,
    needs_clarification: false,
  });

  let match = matchGrammar(tokens, original);
  let intentConfidence = 1;
  let candidates: Candidate[] | undefined;
  if (!match) {
    const fallback = keywordFallback(tokens, context);
    if (!fallback) return { ...base('unknown', 0), needs_clarification: true, clarification: HELP_TEXT };
    match = { intent: fallback.intent };
    candidates = fallback.candidates;
    intentConfidence = 0.7;
  }
  if (match.ref === undefined && candidates === undefined) {
    return { ...base(match.intent, intentConfidence * transcript), entities: match.entities ?? {} };
  }

  const ref = match.ref;
  candidates ??= resolveBot(ref!, context);
  const verb = match.intent === 'start_bot' ? 'start' : match.intent === 'stop_bot' ? 'stop' : match.intent === 'restart_bot' ? 'restart' : 'check';
  if (candidates.length === 0) {
    return {
      ...base(match.intent, 0),
      entities: ref ? { bot_ref: ref } : {},
      needs_clarification: true,
      clarification: ref ? `I could not find a bot matching "${ref}". Which bot should I ${verb}?` : `Which bot should I ${verb}?`,
    };
  }
  const best = Math.max(...candidates.map((c) => c.score));
  const close = candidates.filter((c) => best - c.score <= 0.05);
  if (close.length >= 2) {
    const options = close.slice(0, 5).map((c) => c.id);
    return {
      ...base(match.intent, intentConfidence * best * transcript),
      entities: ref ? { bot_ref: ref } : {},
      alternatives: close.slice(0, 5).map((c) => ({ intent: match.intent, bot_id: c.id, confidence: intentConfidence * c.score * transcript })),
      needs_clarification: true,
      clarification: `I found several bots matching "${ref ?? ''}": ${options.join(', ')}. Which one?`,
    };
  }
  const chosen = close[0]!;
  const confidence = Math.round(intentConfidence * chosen.score * transcript * 1000) / 1000;
  const parsed: ParsedIntent = { ...base(match.intent, confidence), entities: { bot_id: chosen.id, ...(ref ? { bot_ref: ref } : {}) } };
  if (confidence >= EXECUTE_AT) return parsed;
  if (confidence >= CONFIRM_AT) {
    return { ...parsed, needs_confirmation: true, clarification: `Did you mean to ${verb} bot "${chosen.id}"? Reply yes or no.` };
  }
  return { ...parsed, needs_clarification: true, clarification: `Which bot should I ${verb}?` };
}
