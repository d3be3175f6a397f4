// SPDX-License-Identifier: Apache-2.0
// Reading a bot description: task type, frequency, complexity, features and I/O types from keyword tables, matched
// on whole words and phrases only (so `email` never means `ai`, and `json` never means `on`).

export interface BotAnalysis {
  name: string;
  purpose: string;
  task_type: string;
  frequency: string;
  complexity: 'simple' | 'moderate' | 'advanced';
  input_type: string;
  output_type: string;
  features: string[];
  recommendation: string;
}

const TASK_TYPES: [string, string[]][] = [
  ['process', ['process', 'transform', 'convert', 'manipulate', 'change']],
  ['collect', ['collect', 'gather', 'scrape', 'fetch', 'retrieve']],
  ['api_call', ['call', 'request', 'api', 'webhook', 'http']],
  ['analyze', ['analyze', 'examine', 'study', 'review']],
  ['monitor', ['monitor', 'watch', 'track', 'observe', 'check']],
  ['store', ['store', 'save', 'write', 'backup', 'archive']],
  ['notify', ['notify', 'alert', 'message', 'email', 'send']],
];
const FREQUENCIES: [string, string[]][] = [
  ['continuous', ['continuous', '24/7', 'always', 'constantly', 'real-time']],
  ['scheduled', ['scheduled', 'daily', 'weekly', 'hourly', 'minute', 'every']],
  ['triggered', ['triggered', 'event', 'when', 'on', 'fire']],
  ['manual', ['manual', 'on-demand', 'button', 'command', 'user']],
];
const ADVANCED = ['machine learning', 'ml', 'ai', 'complex', 'advanced', 'neural', 'model'];
const MODERATE = ['database', 'api', 'multiple', 'filter', 'sort'];
const FEATURES: [string, string[]][] = [
  ['error_handling', ['error', 'fail', 'retry', 'exception']],
  ['logging', ['log', 'debug', 'track', 'record']],
  ['notification', ['notify', 'alert', 'email', 'message']],
  ['caching', ['cache', 'fast', 'optimize', 'performance']],
  ['database', ['database', 'db', 'store', 'sql']],
  ['api', ['api', 'rest', 'http', 'endpoint']],
  ['scheduling', ['schedule', 'time', 'cron', 'interval']],
];
const IO_TYPES: [string, string[]][] = [
  ['json', ['json', 'api', 'request']],
  ['csv', ['csv', 'data', 'file', 'spreadsheet']],
  ['text', ['text', 'string', 'document', 'content']],
  ['image', ['image', 'photo', 'picture', 'visual']],
  ['database', ['database', 'db', 'sql', 'record']],
];

/** Lower-case words; `24/7`, `real-time` and `on-demand` stay one word. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+(?:[/-][a-z0-9]+)*/g) ?? [];
}

function has(tokens: string[], phrase: string): boolean {
  const parts = phrase.split(' ');
  return tokens.some((_, i) => parts.every((p, j) => tokens[i + j] === p));
}

const first = (tokens: string[], table: [string, string[]][], fallback: string) => table.find(([, keys]) => keys.some((k) => has(tokens, k)))?.[0] ?? fallback;

/** What a description asks for (whole-word matching; first match in table order wins where one value is chosen). */
export function analyzeDescription(description: string): BotAnalysis {
  const firstLine = description.split('\n').find((l) => l.trim()) ?? '';
  const tokens = words(description);
  const name = firstLine
    .trim()
    .split(/\s+/)
    .map((w) => w.toLowerCase().replace(/[^a-z0-9_]/g, ''))
    .filter(Boolean)
    .slice(0, 3)
    .join('_')
    .slice(0, 30);
  const complexity = ADVANCED.some((k) => has(tokens, k)) ? 'advanced' : MODERATE.some((k) => has(tokens, k)) ? 'moderate' : 'simple';
  const io = tokens.map((t) => IO_TYPES.find(([, keys]) => keys.includes(t))?.[0]).filter((t): t is string => t !== undefined);
  const analysis = {
    name: /^[a-z0-9_]{1,30}$/.test(name) ? name : 'custom_bot',
    purpose: firstLine.trim().slice(0, 200),
    task_type: first(tokens, TASK_TYPES, 'process'),
    frequency: first(tokens, FREQUENCIES, 'triggered'),
    complexity,
    input_type: io[0] ?? 'json',
    output_type: io.at(-1) ?? 'json',
    features: FEATURES.filter(([, keys]) => keys.some((k) => has(tokens, k))).map(([f]) => f),
  } as const;
  return {
    ...analysis,
    recommendation:
      complexity === 'advanced'
        ? 'Review the generated bot carefully: advanced tasks need code beyond the template.'
        : `A ${analysis.frequency} ${analysis.task_type} bot: edit config.json to tune it, then start it.`,
  };
}
