#!/usr/bin/env node
// Package shape: `publint --strict` and Are the Types Wrong (profile node16: node10 resolution ignored) on what would
// be published, for every publishable workspace package (or the package folders given as arguments), in one process.
// Each package is packed once (one `pnpm pack` run for all of them) and both linters read that tarball: started per
// package, the two CLIs cost five Node processes and a fresh TypeScript each, most of the step's time.
// Exit code 1 when any package has a problem; every problem is listed under its package.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkPackage, createPackageFromTarballData } from '@arethetypeswrong/core';
import { problemKindInfo } from '@arethetypeswrong/core/problems';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** attw's `--profile node16`: problems seen only under node10 resolution do not count. */
const IGNORED_RESOLUTIONS = ['node10'];

/** Every workspace package that is published (not `private`). */
function publishablePackages() {
  const dirs = [];
  for (const group of ['packages', 'apps', 'tooling']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) {
      const file = join(base, name, 'package.json');
      if (existsSync(file) && !JSON.parse(readFileSync(file, 'utf8')).private) dirs.push(join(base, name));
    }
  }
  return dirs;
}

/** Packs every folder with one `pnpm pack` (workspace protocols rewritten as on publish); tarball path by package name. */
function packAll(dirs, destination) {
  const filters = dirs.flatMap((dir) => ['--filter', `./${relative(root, dir)}`]);
  let out;
  try {
    out = execFileSync('pnpm', ['--recursive', ...filters, 'pack', '--pack-destination', destination, '--json'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    // pnpm reports its own failures (e.g. an unresolvable `workspace:` range) as JSON on stdout
    const reason = (() => {
      try {
        return JSON.parse(error.stdout).error.message;
      } catch {
        return error.stdout || error.message;
      }
    })();
    throw new Error(`pnpm pack failed: ${reason}`);
  }
  const packed = out.trim() ? JSON.parse(out) : [];
  return new Map((Array.isArray(packed) ? packed : [packed]).map((p) => [p.name, p.filename]));
}

/** What attw finds, as lines; an untyped package is a problem too (every package here ships declarations). */
async function typesProblems(tarball) {
  const analysis = await checkPackage(createPackageFromTarballData(tarball));
  if (!analysis.types) return ['attw: the package has no type declarations'];
  return analysis.problems
    .filter((p) => !('resolutionKind' in p) || !IGNORED_RESOLUTIONS.includes(p.resolutionKind))
    .map((p) => {
      const where =
        'entrypoint' in p
          ? `"${p.entrypoint}" under ${p.resolutionKind} resolution`
          : 'typesFileName' in p
            ? `${p.typesFileName} (types) / ${p.implementationFileName} (implementation)`
            : p.fileName;
      return `attw: ${problemKindInfo[p.kind].title}: ${where} (${problemKindInfo[p.kind].docsUrl})`;
    });
}

/** publint's messages as lines; with `strict`, warnings are errors. Suggestions are listed but do not fail. */
async function publintMessages(tarball) {
  const { messages, pkg } = await publint({ pack: { tarball: tarball.buffer.slice(tarball.byteOffset, tarball.byteOffset + tarball.byteLength) }, strict: true });
  const line = (m) => `publint ${m.type}: ${formatMessage(m, pkg, { color: false })}`;
  return {
    errors: messages.filter((m) => m.type === 'error').map(line),
    suggestions: messages.filter((m) => m.type === 'suggestion').map(line),
  };
}

const started = performance.now();
const dirs = process.argv.length > 2 ? process.argv.slice(2).map((d) => resolve(d)) : publishablePackages();
const scratch = mkdtempSync(join(tmpdir(), 'ecps-pack-'));
let failed = 0;
try {
  const tarballs = packAll(dirs, scratch);
  const packedAt = performance.now();
  for (const dir of dirs) {
    const { name } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = tarballs.get(name);
    if (!file) {
      failed++;
      console.log(`✗ ${name} (${relative(root, dir)}): pnpm pack produced no tarball`);
      continue;
    }
    const tarball = new Uint8Array(readFileSync(file));
    const [lint, types] = await Promise.all([publintMessages(tarball), typesProblems(tarball)]);
    const problems = [...lint.errors, ...types];
    if (problems.length) failed++;
    if (problems.length || lint.suggestions.length) {
      console.log(`${problems.length ? '✗' : '✓'} ${name} (${relative(root, dir)})`);
      for (const p of [...problems, ...lint.suggestions]) console.log(`    ${p}`);
    }
  }
  const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
  console.log(
    `package shape (publint --strict, attw node16): ${dirs.length} package(s), ${failed} with problems ` +
      `(packing ${s(packedAt - started)}, checks ${s(performance.now() - packedAt)})`,
  );
} catch (error) {
  failed++;
  console.log(`✗ ${error instanceof Error ? error.message : String(error)}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
