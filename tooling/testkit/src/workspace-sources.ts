// SPDX-License-Identifier: Apache-2.0
// `@ecps/x[/sub]` -> its TypeScript source, read from each workspace package's `exports` (as the Jest preset does),
// so child processes bundled by esbuild run the sources without a build.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const workspaceRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const root = workspaceRoot;

export function workspaceSources(): Map<string, string> {
  const map = new Map<string, string>();
  for (const group of ['packages', 'apps', 'tooling']) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const pkgFile = join(dir, name, 'package.json');
      if (!existsSync(pkgFile)) continue;
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { name?: string; exports?: Record<string, unknown> };
      if (!pkg.name?.startsWith('@ecps/') || !pkg.exports) continue;
      for (const [sub, target] of Object.entries(pkg.exports)) {
        if (sub === './package.json') continue;
        const t = target as string | { import?: { default?: string } | string; default?: string };
        const entry = typeof t === 'string' ? t : typeof t.import === 'object' ? t.import.default : (t.import ?? t.default);
        if (typeof entry !== 'string') continue;
        const source = join(dir, name, entry.replace(/^\.\/dist\//, './src/').replace(/\.(c|m)?js$/, '.ts'));
        if (existsSync(source)) map.set(sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`, source);
      }
    }
  }
  return map;
}
