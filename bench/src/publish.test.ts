// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { HEADLINE_END, HEADLINE_START, headlineTable, replaceHeadline, type HeadlineRow } from './publish';

const row = (name: string, ratio: number, target?: number, targetValue?: number): HeadlineRow => ({
  name,
  unit: 'msg/s',
  higherIsBetter: true,
  ours: { median: ratio * 1000 },
  baseline: { median: 1000 },
  ratio,
  ...(target === undefined ? {} : { target }),
  ...(targetValue === undefined ? {} : { targetValue }),
});

describe('headline table', () => {
  it('lists only cases with a target and says whether each met it', () => {
    const table = headlineTable([row('a', 0.95, 0.9), row('b', 2), row('c', 0.5, 0.7), row('d', 2, undefined, 1500), row('e', 1, 0.9, 1500)]);
    expect(table.split('\n')).toEqual([
      '| case | ours | raw baseline | unit | ratio | target | met |',
      '|---|---:|---:|---|---:|---:|:---:|',
      '| a | 950 | 1000 | msg/s | 0.95 | 0.9 | yes |',
      '| c | 500 | 1000 | msg/s | 0.50 | 0.7 | no |',
      '| d | 2000 | 1000 | msg/s | 2.00 | ≥ 1500 msg/s | yes |',
      '| e | 1000 | 1000 | msg/s | 1.00 | 0.9, ≥ 1500 msg/s | no |',
    ]);
  });

  it('replaces only what lies between the markers, again and again', () => {
    const readme = `# R\n\n${HEADLINE_START}\nold\n${HEADLINE_END}\n\nafter\n`;
    const once = replaceHeadline(readme, 'T1');
    expect(once).toBe(`# R\n\n${HEADLINE_START}\nT1\n${HEADLINE_END}\n\nafter\n`);
    expect(replaceHeadline(once, 'T2')).toBe(`# R\n\n${HEADLINE_START}\nT2\n${HEADLINE_END}\n\nafter\n`);
  });

  it('refuses a README without the markers', () => {
    expect(() => replaceHeadline('# R\n', 'T')).toThrow(/bench-headline/);
  });
});
