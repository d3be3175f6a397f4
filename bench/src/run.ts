// SPDX-License-Identifier: Apache-2.0
// `pnpm bench [filter]`: runs every case in ./cases (or those whose name contains a filter), then writes
// results/latest.json and results/latest.md (medians and ratios). With `--update`, the cases run now replace their
// rows in the existing results/latest.json and the other rows are kept, each with the time and load it was measured at.
// A filtered run without `--update` writes results/filtered.json and .md instead, never replacing the full report.
// Each case file runs in a process of its own (this script with `--file`), so no case inherits the heap, the JIT
// state or the native memory earlier cases left behind.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, type BenchCase, type CaseDetails } from './harness';
import { peatScalePoints, writePeatScalePlot } from './plot-peat-scale';
import { describeProfile, describeRequiredWork, profileSummary, type ProfileSummary } from './profile';
import { fmt, missesTarget, targetOf } from './targets';

interface CaseResult {
  name: string;
  unit: string;
  higherIsBetter: boolean;
  repetitions: number;
  ours: { median: number; samples: number[] };
  baseline: { median: number; samples: number[] };
  ratio: number;
  target?: number;
  targetValue?: number;
  /**
   * Where one profiled `ours()` run spent its time, when the ratio is below `target` (or ours below `targetValue`).
   * Reports written before summaries had parts hold the top self-time functions only.
   */
  profile?: ProfileSummary | string[];
  /** The case's {@link RequiredWork}, kept with its profile for the report. */
  requiredWork?: { functions: string; why: string };
  details?: CaseDetails;
  /** When the case ran, and the machine's 1-minute load average then (timings on a loaded machine are noisy). */
  measuredAt: string;
  load: number;
}

interface Report {
  node: string;
  cpus: number;
  cpu: string | undefined;
  results: CaseResult[];
}

const here = dirname(fileURLToPath(import.meta.url));
const casesDir = join(here, 'cases');
const args = process.argv.slice(2);
/** Child mode: `--file <case file> --out <results file>` runs that file's matching cases and writes their results. */
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const childFile = option('--file');
const childOut = option('--out');
const filters = args.filter((a, i) => !a.startsWith('-') && !['--file', '--out'].includes(args[i - 1] ?? ''));
const update = args.includes('--update');

const matches = (c: BenchCase) => filters.length === 0 || filters.some((f) => c.name.toLowerCase().includes(f.toLowerCase()));

async function loadCases(file: string): Promise<BenchCase[]> {
  const mod = (await import(pathToFileURL(join(casesDir, file)).href)) as { default: BenchCase | BenchCase[] };
  return (Array.isArray(mod.default) ? mod.default : [mod.default]).filter(matches);
}

async function runCase(c: BenchCase): Promise<CaseResult> {
  const repetitions = c.repetitions ?? 5;
  const measuredAt = new Date().toISOString();
  const load = loadavg()[0]!;
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
    const belowTarget = missesTarget({ ...c, ours: { median: o }, ratio });
    const details = c.details?.({ ours: o, baseline: b });
    return {
      name: c.name,
      unit: c.unit,
      higherIsBetter: c.higherIsBetter,
      repetitions,
      ours: { median: o, samples: ours },
      baseline: { median: b, samples: baseline },
      ratio,
      ...(c.target === undefined ? {} : { target: c.target }),
      ...(c.targetValue === undefined ? {} : { targetValue: c.targetValue }),
      ...(belowTarget ? { profile: await profileSummary(() => c.ours(), c.requiredWork ? { required: c.requiredWork.functions } : {}) } : {}),
      ...(belowTarget && c.requiredWork ? { requiredWork: { functions: c.requiredWork.functions.source, why: c.requiredWork.why } } : {}),
      ...(details ? { details } : {}),
      measuredAt,
      load,
    };
  } finally {
    await c.teardown?.();
  }
}


/** Runs the matching cases of one case file in this process, printing progress. */
async function runFile(file: string): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of await loadCases(file)) {
    process.stdout.write(`${c.name} … `);
    try {
      const r = await runCase(c);
      results.push(r);
      console.log(`ours ${fmt(r.ours.median)} ${r.unit}, baseline ${fmt(r.baseline.median)} ${r.unit}, ratio ${r.ratio.toFixed(2)}`);
      if (r.profile) console.log(`  below target ${targetOf(r)}; ours, profiled:\n${profileLines(r).map((l) => `    ${l}`).join('\n')}`);
      for (const note of r.details?.notes ?? []) console.log(`  ${note}`);
    } catch (error) {
      console.log(`skipped: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return results;
}

/** Runs one case file in a child process of its own (same Node flags) and returns its results. */
async function runFileInChild(file: string, scratch: string): Promise<CaseResult[]> {
  const out = join(scratch, `${file}.json`);
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--file', file, '--out', out, ...filters], { stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (!existsSync(out)) {
    console.log(`${file}: its process exited (${code}) without results`);
    return [];
  }
  return JSON.parse(readFileSync(out, 'utf8')) as CaseResult[];
}

async function main(): Promise<void> {
  const files: string[] = [];
  for (const file of readdirSync(casesDir).filter((f) => f.endsWith('.bench.ts')).sort()) {
    if ((await loadCases(file)).length > 0) files.push(file);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'ecps-bench-'));
  const results: CaseResult[] = [];
  try {
    for (const file of files) results.push(...(await runFileInChild(file, scratch)));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const outDir = join(here, '..', 'results');
  mkdirSync(outDir, { recursive: true });
  const report: Report = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, results: update ? mergeInto(join(outDir, 'latest.json'), results) : results };
  const base = filters.length > 0 && !update ? 'filtered' : 'latest';
  writeFileSync(join(outDir, `${base}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(outDir, `${base}.md`), markdown(report));
  // the Peat scale plot, next to docs/benchmarks.md (where latest.md is copied), when the report holds its cases
  const plot = base === 'latest' ? writePeatScalePlot(report) : undefined;
  if (plot) console.log(`wrote ${plot}`);
  console.log(`\nwrote bench/results/${base}.json and bench/results/${base}.md (${results.length} cases run, ${report.results.length} reported)`);
}

/** The rows of the previous report with the ones just measured replaced; cases it did not have are appended. */
function mergeInto(previousFile: string, fresh: CaseResult[]): CaseResult[] {
  const previous = existsSync(previousFile) ? (JSON.parse(readFileSync(previousFile, 'utf8')) as Partial<Report> & { generatedAt?: string }) : {};
  // reports written before rows carried their own time and load: the report's time, load unknown
  const old = (previous.results ?? []).map((r) => ({ ...r, measuredAt: r.measuredAt ?? previous.generatedAt ?? '', load: r.load ?? Number.NaN }));
  const byName = new Map(fresh.map((r) => [r.name, r]));
  const merged = old.map((r) => byName.get(r.name) ?? r);
  const kept = new Set(merged.map((r) => r.name));
  return [...merged, ...fresh.filter((r) => !kept.has(r.name))];
}

/** A case's profile as lines (a report written before summaries had parts lists self time only). */
function profileLines({ profile, ratio, requiredWork }: CaseResult): string[] {
  if (!profile) return [];
  if (Array.isArray(profile)) return [`self time: ${profile.join(', ')}`];
  const { run, self, total } = describeProfile(profile);
  return [run, self, total, ...(requiredWork && profile.required !== undefined ? [describeRequiredWork(profile, ratio, requiredWork)] : [])];
}

function markdown(report: Report): string {
  const { results } = report;
  const times = results.map((r) => r.measuredAt).sort();
  const loads = results.map((r) => r.load).filter((l) => !Number.isNaN(l));
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${fmt(r.ours.median)} | ${fmt(r.baseline.median)} | ${r.unit} | ${r.ratio.toFixed(2)} | ${targetOf(r)} | ${r.repetitions} | ${Number.isNaN(r.load) ? '' : r.load.toFixed(1)} |`,
  );
  const profiled = results.filter((r) => r.profile);
  const profiles = profiled.length === 0
    ? []
    : [
        `## Below target: where ours spends its time`,
        ``,
        `One more run of ours (repeated to at least 1 s) under the V8 CPU profiler, the sampler of \`node --cpu-prof\`: how`,
        `long the main thread sat idle (waiting on I/O, the threadpool or another process) and the CPU other threads and child`,
        `processes used meanwhile; the functions with the most self time, and our packages' functions with the most total`,
        `(inclusive) time, as shares of the main thread's busy time. A native frame is shown with its JavaScript caller: V8`,
        `names an addon's methods after one shared entry point, so the caller tells which call it was. Where a case names`,
        `work the spec requires of ours that the baseline does not do, a last line gives that work's share of the busy time`,
        `and the ratio ours would have without it.`,
        ``,
        ...profiled.flatMap((r) => [
          `- ${r.name} (ratio ${r.ratio.toFixed(2)}, ours ${fmt(r.ours.median)} ${r.unit}, target ${targetOf(r)}):`,
          ...profileLines(r).map((l) => `  - ${l}`),
        ]),
        ``,
      ];
  const noted = results.filter((r) => r.details?.notes?.length);
  const notes = noted.length === 0 ? [] : [`## Notes`, ``, ...noted.flatMap((r) => [`- ${r.name}:`, ...r.details!.notes!.map((n) => `  - ${n}`)]), ``];
  const plot = peatScalePoints(report).length === 0
    ? []
    : [`## Peat at scale`, ``, `Ops and bytes per round against node count, hierarchical vs full replication: [docs/peat-scale.svg](peat-scale.svg)`, ``, `![Peat at scale](peat-scale.svg)`, ``];
  return [
    `# Benchmarks`,
    ``,
    `Measured ${times[0] ?? '-'} to ${times.at(-1) ?? '-'} · Node ${report.node} · ${report.cpus} × ${report.cpu ?? 'cpu'} · 1-minute load average ${loads.length ? `${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}` : '-'} (column "load": at the start of each case)`,
    ``,
    `Medians of alternating runs. Ratio ≥ 1 means ours is at least as good as the raw baseline (throughput: ours ÷ raw; latency: raw ÷ ours).`,
    ``,
    `| case | ours | raw baseline | unit | ratio | target | runs | load |`,
    `|---|---:|---:|---|---:|---:|---:|---:|`,
    ...rows,
    ``,
    ...notes,
    ...plot,
    ...profiles,
  ].join('\n');
}

if (childFile) {
  writeFileSync(childOut!, JSON.stringify(await runFile(childFile)));
  // the results are written: do not wait for handles a case's libraries may keep open
  process.exit(0);
} else {
  await main();
}
