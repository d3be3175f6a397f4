// SPDX-License-Identifier: Apache-2.0
// One fuzzing harness for every parser of bytes from the network or disk. Coverage-guided fuzzers do not run on
// this machine class (Jazzer.js needs a newer glibc), so inputs come from fast-check: arbitrary bytes plus stacked
// mutations of valid inputs, under a seeded time budget. fast-check shrinks a failing input before it is reported.
import { readdirSync, readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';

/** What a target may do with an input: return, or throw an error that `isExpected` accepts. */
export interface FuzzTarget {
  /** Stable name, used for the report file and the corpus folder. */
  readonly name: string;
  /** Valid inputs to mutate (and regression inputs that once found a bug). At least one. */
  readonly seeds: readonly Uint8Array[];
  /** Runs one input. Throw `FuzzInvariantError` when a property the target checks is broken. */
  run(input: Uint8Array): void | Promise<void>;
  /** Errors that are the parser's documented refusal (typically `isEcpsError`). Anything else is untyped. */
  isExpected(error: unknown): boolean;
  /** Largest arbitrary input generated from scratch (default 4 KiB). */
  readonly maxLength?: number;
}

/** Thrown by a target when an invariant fails (memory bound exceeded, records silently lost, ...). */
export class FuzzInvariantError extends Error {
  override readonly name = 'FuzzInvariantError';
}

export interface FuzzReport {
  readonly target: string;
  readonly seed: number;
  readonly budgetMs: number;
  readonly iterations: number;
  /** Invariant violations: the target's own checks failed. */
  readonly crashes: number;
  /** Errors that are neither expected refusals nor invariant violations. */
  readonly untypedExceptions: number;
  /** The shrunk failing input (hex) and its error, when one was found. */
  readonly failure?: { readonly inputHex: string; readonly error: string };
}

export interface FuzzOptions {
  /** Time budget; default `ECPS_FUZZ_MS` or 2000 ms. */
  readonly budgetMs?: number;
  /** Seed; default `ECPS_FUZZ_SEED` or a fixed per-target seed, so CI runs are reproducible. */
  readonly seed?: number;
}

/** Runs a target for its budget. The report's `crashes` and `untypedExceptions` must both be 0. */
export async function runFuzzTarget(target: FuzzTarget, options: FuzzOptions = {}): Promise<FuzzReport> {
  if (target.seeds.length === 0) throw new Error(`fuzz target ${target.name} has no seeds`);
  const budgetMs = options.budgetMs ?? Number(process.env['ECPS_FUZZ_MS'] ?? 2000);
  const seed = options.seed ?? Number(process.env['ECPS_FUZZ_SEED'] ?? stableSeed(target.name));
  const property = fc.asyncProperty(fuzzInput(target.seeds, target.maxLength ?? 4096), async (input) => {
    try {
      await target.run(input);
    } catch (error) {
      if (error instanceof FuzzInvariantError || !target.isExpected(error)) throw error;
    }
  });
  const details = await fc.check(property, {
    seed,
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: budgetMs,
    markInterruptAsFailure: false,
    endOnFailure: true,
  });
  // fast-check stops at the first failure (then shrinks it), so each count is 0 or 1.
  const crashed = details.failed && details.errorInstance instanceof FuzzInvariantError;
  const report: FuzzReport = {
    target: target.name,
    seed,
    budgetMs,
    iterations: details.numRuns,
    crashes: crashed ? 1 : 0,
    untypedExceptions: details.failed && !crashed ? 1 : 0,
    ...(details.failed && details.counterexample
      ? { failure: { inputHex: Buffer.from(details.counterexample[0]).toString('hex'), error: describe(details.errorInstance) } }
      : {}),
  };
  writeReport(report);
  return report;
}

/** Reads every file of a corpus folder (regression inputs kept beside a target); none when it does not exist. */
export function loadCorpus(dir: string): Uint8Array[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.') && name !== 'README.md')
    .sort()
    .map((name) => new Uint8Array(readFileSync(join(dir, name))));
}

// Arbitrary bytes, or a seed with up to eight stacked mutations: the mix that finds length and offset bugs fastest.
function fuzzInput(seeds: readonly Uint8Array[], maxLength: number): fc.Arbitrary<Uint8Array> {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xfe, 0xff) }),
    fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  );
  const mutated = fc
    .tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 8 }))
    .map(([seed, mutations]) => mutations.reduce(applyMutation, Uint8Array.from(seed)));
  return fc.oneof(
    { arbitrary: mutated, weight: 4 },
    { arbitrary: fc.constantFrom(...seeds.map((s) => Uint8Array.from(s))), weight: 1 },
    { arbitrary: fc.uint8Array({ maxLength }), weight: 1 },
  );
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'duplicate'; at: number; length: number };

function applyMutation(input: Uint8Array, m: Mutation): Uint8Array {
  const n = input.length;
  const at = n === 0 ? 0 : m.at % n;
  switch (m.kind) {
    case 'flip':
      if (n > 0) input[at] = input[at]! ^ (1 << m.bit);
      return input;
    case 'set':
      if (n > 0) input[at] = m.value;
      return input;
    case 'u32': {
      if (n < 4) return input;
      const out = Uint8Array.from(input);
      new DataView(out.buffer).setUint32(Math.min(at, n - 4), m.value, (m.at & 1) === 0);
      return out;
    }
    case 'truncate':
      return input.subarray(0, at);
    case 'delete':
      return concat(input.subarray(0, at), input.subarray(at + m.length));
    case 'insert':
      return concat(input.subarray(0, at), m.bytes, input.subarray(at));
    case 'duplicate':
      return concat(input.subarray(0, at + m.length), input.subarray(at));
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function stableSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h & 0x7fffffff;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

// `pnpm fuzz` sets ECPS_FUZZ_REPORT_DIR and gathers one JSON file per target into docs/reliability.md.
function writeReport(report: FuzzReport): void {
  const dir = process.env['ECPS_FUZZ_REPORT_DIR'];
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${report.target}.json`), JSON.stringify(report, null, 2));
}
