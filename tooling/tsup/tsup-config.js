// One list of entry points drives both the build and the exports: the package's own `exports` map.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Entry files (src/*.ts) named by a package's `exports`: `./dist/x/y.js` is built from `src/x/y.ts`. */
export function entriesFromExports(packageDir) {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const entries = {};
  for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
    if (sub === './package.json') continue;
    const file = typeof target === 'string' ? target : (target.import?.default ?? target.import ?? target.default);
    const match = /^\.\/dist\/(.+)\.js$/.exec(file);
    if (!match) throw new Error(`${pkg.name}: export ${sub} does not point into ./dist/*.js`);
    entries[match[1]] = `src/${match[1]}.ts`;
  }
  for (const [, file] of Object.entries(pkg.bin ?? {})) {
    const match = /^\.\/dist\/(.+)\.js$/.exec(file);
    if (match) entries[match[1]] = `src/${match[1]}.ts`;
  }
  return entries;
}

/** The tsup options every publishable package uses: ESM + CJS + .d.ts, ES2022. */
export function libraryConfig(packageDir, overrides = {}) {
  return {
    entry: entriesFromExports(packageDir),
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    platform: 'node',
    splitting: false,
    ...overrides,
  };
}
