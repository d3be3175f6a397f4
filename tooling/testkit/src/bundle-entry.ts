// SPDX-License-Identifier: Apache-2.0
// Bundles a TypeScript entry (e.g. a service CLI) into one ESM file so a test can run it as a real child process
// (and SIGKILL it) without a build step: @ecps/* imports resolve to workspace sources, other packages stay external.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { workspaceSources } from './workspace-sources';

export interface BundleEntryOptions {
  /**
   * Bundle the other packages too (the ones the workspace packages depend on, which `packageDir` may not see), except
   * these, which stay external (native modules, loaded lazily). Imports of computed names are left to run time
   * either way, so they resolve from `packageDir`: what the app has installed. Default: every other package external.
   */
  bundleDependencies?: { external: readonly string[] };
}

/**
 * Bundles `entry` to `<packageDir>/node_modules/.cache/ecps-testkit/<name>.mjs` (inside the package, so its
 * node_modules resolve) and returns that path.
 */
export async function bundleEntry(entry: string, packageDir: string, name: string, options: BundleEntryOptions = {}): Promise<string> {
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
            const bundled = options.bundleDependencies;
            if (bundled && !bundled.external.some((e) => args.path === e || args.path.startsWith(`${e}/`))) return undefined;
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  return outfile;
}
