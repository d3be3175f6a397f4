// SPDX-License-Identifier: Apache-2.0
// The Peat scale plot: replication ops and bytes per round against node count, hierarchical against full
// replication, log-log, from the `peatScale` data of the scale cases (cases/peat-scale.bench.ts) in a results JSON.
// `pnpm bench` writes it to docs/peat-scale.svg whenever the run measured those cases; by hand:
//   pnpm --filter @ecps/bench run plot:peat-scale [results.json]   (default results/latest.json)
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What one scale case records: one metric at one fleet size. */
export interface PeatScalePoint {
  readonly nodes: number;
  readonly metric: 'ops' | 'bytes';
  readonly hierarchical: number;
  readonly full: number;
  /** The full-replication figure was computed from a formula checked against smaller runs, not run. */
  readonly fullComputed: boolean;
}

interface ResultsLike {
  readonly results: readonly { readonly measuredAt?: string; readonly details?: { readonly data?: Readonly<Record<string, unknown>> } }[];
}

const here = dirname(fileURLToPath(import.meta.url));
/** Where the plot goes: next to docs/benchmarks.md. */
export const PEAT_SCALE_SVG = join(here, '..', '..', 'docs', 'peat-scale.svg');

export function peatScalePoints(report: ResultsLike): PeatScalePoint[] {
  return report.results.map((r) => r.details?.data?.['peatScale'] as PeatScalePoint | undefined).filter((p): p is PeatScalePoint => p !== undefined);
}

const W = 460;
const H = 340;
const M = { left: 70, right: 16, top: 40, bottom: 48 };

function panel(points: readonly PeatScalePoint[], title: string, x0: number): string {
  const pts = [...points].sort((a, b) => a.nodes - b.nodes);
  const xs = pts.map((p) => p.nodes);
  const ys = pts.flatMap((p) => [p.hierarchical, p.full]).filter((v) => v > 0);
  const lx = [Math.log10(Math.min(...xs)) - 0.05, Math.log10(Math.max(...xs)) + 0.05];
  const ly = [Math.floor(Math.log10(Math.min(...ys))), Math.ceil(Math.log10(Math.max(...ys)))];
  const px = (n: number) => x0 + M.left + ((Math.log10(n) - lx[0]!) / (lx[1]! - lx[0]!)) * (W - M.left - M.right);
  const py = (v: number) => M.top + (1 - (Math.log10(v) - ly[0]!) / (ly[1]! - ly[0]!)) * (H - M.top - M.bottom);
  const out: string[] = [];
  out.push(`<text x="${x0 + W / 2}" y="22" text-anchor="middle" font-weight="bold">${title}</text>`);
  out.push(`<rect x="${x0 + M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#999"/>`);
  for (let e = ly[0]!; e <= ly[1]!; e++) {
    const y = py(10 ** e);
    out.push(`<line x1="${x0 + M.left}" x2="${x0 + W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${x0 + M.left - 6}" y="${y + 4}" text-anchor="end">${e >= 3 ? `${10 ** (e % 3)}${['', 'k', 'M', 'G', 'T'][Math.floor(e / 3)]}` : 10 ** e}</text>`);
  }
  for (const n of xs) {
    out.push(`<line x1="${px(n)}" x2="${px(n)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${px(n)}" y="${H - M.bottom + 16}" text-anchor="middle">${n}</text>`);
  }
  out.push(`<text x="${x0 + M.left + (W - M.left - M.right) / 2}" y="${H - 10}" text-anchor="middle">nodes</text>`);
  const line = (values: readonly number[], color: string, dashedFrom = Infinity) => {
    for (let i = 1; i < pts.length; i++) {
      const dash = i >= dashedFrom ? ' stroke-dasharray="5 4"' : '';
      out.push(`<line x1="${px(pts[i - 1]!.nodes)}" y1="${py(values[i - 1]!)}" x2="${px(pts[i]!.nodes)}" y2="${py(values[i]!)}" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    pts.forEach((p, i) => {
      const hollow = i >= dashedFrom;
      out.push(`<circle cx="${px(p.nodes)}" cy="${py(values[i]!)}" r="4" fill="${hollow ? 'white' : color}" stroke="${color}" stroke-width="2"/>`);
    });
  };
  const firstComputed = pts.findIndex((p) => p.fullComputed);
  line(pts.map((p) => p.full), '#c0392b', firstComputed < 0 ? Infinity : firstComputed);
  line(pts.map((p) => p.hierarchical), '#1f6fb2');
  return out.join('\n');
}

/** The SVG, or undefined when `points` has fewer than two sizes of either metric. */
export function peatScaleSvg(points: readonly PeatScalePoint[], subtitle = ''): string | undefined {
  const ops = points.filter((p) => p.metric === 'ops');
  const bytes = points.filter((p) => p.metric === 'bytes');
  if (ops.length < 2 || bytes.length < 2) return undefined;
  const legendY = H + 8;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 40}" viewBox="0 0 ${2 * W} ${H + 40}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel(ops, 'Replication ops per round', 0),
    panel(bytes, 'Bytes per round (all traffic)', W),
    `<g transform="translate(${M.left},${legendY})">`,
    `<line x1="0" x2="24" y1="8" y2="8" stroke="#1f6fb2" stroke-width="2"/><text x="30" y="12">hierarchical (Peat, measured)</text>`,
    `<line x1="230" x2="254" y1="8" y2="8" stroke="#c0392b" stroke-width="2"/><text x="260" y="12">full replication, measured</text>`,
    `<line x1="440" x2="464" y1="8" y2="8" stroke="#c0392b" stroke-width="2" stroke-dasharray="5 4"/><circle cx="452" cy="8" r="4" fill="white" stroke="#c0392b" stroke-width="2"/><text x="470" y="12">full replication, computed (too large to run)</text>`,
    `</g>`,
    subtitle ? `<text x="${W}" y="${H + 34}" text-anchor="middle" fill="#666" font-size="10">${subtitle}</text>` : '',
    `</svg>`,
    '',
  ].join('\n');
}

/** Writes docs/peat-scale.svg from a results report when it holds the scale cases; returns the path, else undefined. */
export function writePeatScalePlot(report: ResultsLike, path = PEAT_SCALE_SVG): string | undefined {
  const measured = report.results.filter((r) => r.details?.data?.['peatScale'] && r.measuredAt).map((r) => r.measuredAt!).sort();
  const svg = peatScaleSvg(peatScalePoints(report), measured.length ? `in-memory network, one process per fleet; measured ${measured.at(-1)}` : '');
  if (!svg) return undefined;
  writeFileSync(path, svg);
  return path;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? join(here, '..', 'results', 'latest.json');
  const written = writePeatScalePlot(JSON.parse(readFileSync(file, 'utf8')) as ResultsLike);
  console.log(written ? `wrote ${written}` : `${file} holds no Peat scale results (run: pnpm --filter @ecps/bench run bench -- "peat scale")`);
}
