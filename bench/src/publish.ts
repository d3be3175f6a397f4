// SPDX-License-Identifier: Apache-2.0
// `pnpm bench:publish`: makes the last run the committed report. Copies results/latest.md to docs/benchmarks.md and
// rewrites the root README's headline table (every case that has a target, a ratio or an absolute figure) between its markers, so neither is edited
// by hand.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, hasTarget, missesTarget, targetOf, type TargetedResult } from './targets';

/** The fields of a results/latest.json row this script reads. */
export interface HeadlineRow extends TargetedResult {
  name: string;
  baseline: { median: number };
}

export const HEADLINE_START = '<!-- bench-headline:start (written by pnpm bench:publish) -->';
export const HEADLINE_END = '<!-- bench-headline:end -->';

/** The headline table: one line per case with a target (ratio or absolute), in report order. */
export function headlineTable(rows: readonly HeadlineRow[]): string {
  const targeted = rows.filter(hasTarget);
  return [
    `| case | ours | raw baseline | unit | ratio | target | met |`,
    `|---|---:|---:|---|---:|---:|:---:|`,
    ...targeted.map(
      (r) =>
        `| ${r.name} | ${fmt(r.ours.median)} | ${fmt(r.baseline.median)} | ${r.unit} | ${r.ratio.toFixed(2)} | ${targetOf(r)} | ${missesTarget(r) ? 'no' : 'yes'} |`,
    ),
  ].join('\n');
}

/** `text` with the part between the headline markers replaced by `table`; throws when the markers are missing. */
export function replaceHeadline(text: string, table: string): string {
  const start = text.indexOf(HEADLINE_START);
  const end = text.indexOf(HEADLINE_END);
  if (start < 0 || end < start) throw new Error(`README has no ${HEADLINE_START} ... ${HEADLINE_END} section`);
  return `${text.slice(0, start + HEADLINE_START.length)}\n${table}\n${text.slice(end)}`;
}

function main(): void {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = join(here, '..', '..');
  const results = join(here, '..', 'results');
  const report = JSON.parse(readFileSync(join(results, 'latest.json'), 'utf8')) as { results: HeadlineRow[] };
  copyFileSync(join(results, 'latest.md'), join(root, 'docs', 'benchmarks.md'));
  const readme = join(root, 'README.md');
  writeFileSync(readme, replaceHeadline(readFileSync(readme, 'utf8'), headlineTable(report.results)));
  console.log(`wrote docs/benchmarks.md and the README's headline table (${report.results.filter(hasTarget).length} cases with a target)`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
