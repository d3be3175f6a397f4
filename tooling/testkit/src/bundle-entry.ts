// SPDX-License-Identifier: Apache-2.0
// Bundles a TypeScript entry (e.g. a service CLI) into one ESM file so a test can run it as a real child process
// (and SIGKILL it) without a build step: @ecps/* imports resolve to workspace sources, other packages stay external.
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function workspaceSources(): Map<string, string> {
  const map = new Map<string, string>();
  for (const group of ['packages', 'apps', 'tooling']) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const file = join(dir, name, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; exports?: Record<string, unknown> };
      if (!pkg.name?.startsWith('@ecps/') || !pkg.exports) continue;
      for (const [sub, target] of Object.entries(pkg.exports)) {
        const t = target as string | { import?: { default?: string } | string };
        const entry = typeof t === 'string' ? t : typeof t.import === 'string' ? t.import : t.import?.default;
        if (!entry || sub === './package.json') continue;
        const source = join(dir, name, entry.replace(/^\.\/dist\//, './src/').replace(/\.(c|m)?js$/, '.ts'));
        if (existsSync(source)) map.set(sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`, source);
      }
    }
  }
  return map;
}

/**
 * Bundles `entry` to `<packageDir>/node_modules/.cache/ecps-testkit/<name>.mjs` (inside the package, so its
 * node_modules resolve) and returns that path.
 */
export async function bundleEntry(entry: string, packageDir: string, name: string): Promise<string> {
  const outDir = join(packageDir, 'node_modules', '.cache', 'ecps-testkit');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `${name}.mjs`);
  const sources = workspaceSources();
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    plugins: [
      {
        name: 'ecps-workspace',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) => {
            const source = sources.get(args.path);
            if (source) return { path: source };
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  return outfile;
}
