// SPDX-License-Identifier: Apache-2.0
// Bundles a TypeScript entry (and the workspace sources it imports) into one JS file for child-process tests, so
// they need no prior build and each child starts in milliseconds.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** Bundles `entry` (relative to the package root) to `outfile`. */
export async function bundleForTest(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [join(here, '..', entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    tsconfig: join(here, 'tsconfig.cli.json'),
    // a native binding cannot be bundled; the bundle runs without it (zstd then comes from node:zlib or is unsupported)
    external: ['@mongodb-js/zstd'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}
