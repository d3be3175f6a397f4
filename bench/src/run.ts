// SPDX-License-Identifier: Apache-2.0
// `pnpm bench [filter]`: runs every case in ./cases (or those whose name contains a filter), then writes
// results/latest.json and results/latest.md (medians and ratios).
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, type BenchCase, type CaseDetails } from './harness';
import { writePeatScalePlot } from './plot-peat-scale';
import { profileSummary } from './profile';

interface CaseResult {
  name: string;
  unit: string;
  higherIsBetter: boolean;
  repetitions: number;
  ours: { median: number; samples: number[] };
  baseline: { median: number; samples: number[] };
  ratio: number;
  target?: number;
  /** Top self-time functions of one profiled `ours()` run, when the ratio is below `target`. */
  profile?: string[];
  details?: CaseDetails;
}

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));

async function loadCases(): Promise<BenchCase[]> {
  const dir = join(here, 'cases');
  const cases: BenchCase[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort()) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default: BenchCase | BenchCase[] };
    cases.push(...(Array.isArray(mod.default) ? mod.default : [mod.default]));
  }
  return cases.filter((c) => filters.length === 0 || filters.some((f) => c.name.toLowerCase().includes(f.toLowerCase())));
}

async function runCase(c: BenchCase): Promise<CaseResult> {
  const repetitions = c.repetitions ?? 5;
  await c.setup?.();
  try {
    await c.ours();
    await c.baseline();
    const ours: number[] = [];
    const baseline: number[] = [];
    for (let r = 0; r < repetitions; r++) {
      // alternate which side goes first so drift (GC, thermal, neighbours) hits both equally
      if (r % 2 === 0) {
        ours.push(await c.ours());
        baseline.push(await c.baseline());
      } else {
        baseline.push(await c.baseline());
        ours.push(await c.ours());
      }
    }
    const o = median(ours);
    const b = median(baseline);
    const ratio = c.higherIsBetter ? o / b : b / o;
    const belowTarget = c.target !== undefined && ratio < c.target;
    const details = c.details?.();
    return {
      name: c.name,
      unit: c.unit,
      higherIsBetter: c.higherIsBetter,
      repetitions,
      ours: { median: o, samples: ours },
      baseline: { median: b, samples: baseline },
      ratio,
      ...(c.target === undefined ? {} : { target: c.target }),
      ...(belowTarget ? { profile: await profileSummary(() => c.ours()) } : {}),
      ...(details ? { details } : {}),
    };
  } finally {
    await c.teardown?.();
  }
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3));

async function main(): Promise<void> {
  const cases = await loadCases();
  const results: CaseResult[] = [];
  for (const c of cases) {
    process.stdout.write(`${c.name} … `);
    try {
      const r = await runCase(c);
      results.push(r);
      console.log(`ours ${fmt(r.ours.median)} ${r.unit}, baseline ${fmt(r.baseline.median)} ${r.unit}, ratio ${r.ratio.toFixed(2)}`);
      if (r.profile) console.log(`  below target ${r.target}; ours' self time: ${r.profile.join(', ')}`);
      for (const note of r.details?.notes ?? []) console.log(`  ${note}`);
    } catch (error) {
      console.log(`skipped: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const report = { generatedAt: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, results };
  const outDir = join(here, '..', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${fmt(r.ours.median)} | ${fmt(r.baseline.median)} | ${r.unit} | ${r.ratio.toFixed(2)} | ${r.target ?? ''} | ${r.repetitions} |`,
  );
  const profiled = results.filter((r) => r.profile);
  const profiles = profiled.length === 0
    ? []
    : [
        `## Below target: where ours spends its time`,
        ``,
        `Self time of one profiled run of ours (V8 CPU profiler, the sampler of \`node --cpu-prof\`), top functions.`,
        ``,
        ...profiled.map((r) => `- ${r.name} (ratio ${r.ratio.toFixed(2)}, target ${r.target}): ${r.profile!.join(', ')}`),
        ``,
      ];
  const noted = results.filter((r) => r.details?.notes?.length);
  const notes = noted.length === 0
    ? []
    : [`## Notes`, ``, ...noted.flatMap((r) => [`- ${r.name}:`, ...r.details!.notes!.map((n) => `  - ${n}`)]), ``];
  // the Peat scale plot, when this run measured it (written next to docs/benchmarks.md, where this report is copied)
  const plot = writePeatScalePlot(report);
  const plots = plot ? [`## Peat at scale`, ``, `Ops and bytes per round against node count, hierarchical vs full replication: [docs/peat-scale.svg](peat-scale.svg)`, ``, `![Peat at scale](peat-scale.svg)`, ``] : [];
  const md = [
    `# Benchmarks`,
    ``,
    `${report.generatedAt} · Node ${report.node} · ${report.cpus} × ${report.cpu ?? 'cpu'}`,
    ``,
    `Medians of alternating runs. Ratio ≥ 1 means ours is at least as good as the raw baseline (throughput: ours ÷ raw; latency: raw ÷ ours).`,
    ``,
    `| case | ours | raw baseline | unit | ratio | target | runs |`,
    `|---|---:|---:|---|---:|---:|---:|`,
    ...rows,
    ``,
    ...notes,
    ...plots,
    ...profiles,
  ].join('\n');
  writeFileSync(join(outDir, 'latest.md'), md);
  console.log(`\nwrote bench/results/latest.json and bench/results/latest.md (${results.length} cases)`);
}

await main();
