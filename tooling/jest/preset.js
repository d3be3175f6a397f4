// Shared Jest configuration: ESM mode with @swc/jest, workspace packages resolved to their sources
// so a test never needs its dependencies built first.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function workspaceSourceMap() {
  const map = {};
  for (const group of ['packages', 'apps', 'tooling']) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const pkgFile = join(dir, name, 'package.json');
      if (!existsSync(pkgFile)) continue;
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
      if (!pkg.name?.startsWith('@ecps/') || !pkg.exports) continue;
      for (const [sub, target] of Object.entries(pkg.exports)) {
        if (sub === './package.json') continue;
        const source = sourceFor(join(dir, name), sub, target);
        if (!source) continue;
        const specifier = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
        map[`^${specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`] = source;
      }
    }
  }
  return map;
}

// dist/foo/bar.js -> src/foo/bar.ts (the source of a built entry point)
function sourceFor(pkgDir, sub, target) {
  const entry = typeof target === 'string' ? target : (target.import?.default ?? target.import ?? target.default);
  if (typeof entry !== 'string') return undefined;
  const candidate = entry.replace(/^\.\/dist\//, './src/').replace(/\.(c|m)?js$/, '.ts');
  const full = join(pkgDir, candidate);
  return existsSync(full) ? full : undefined;
}

/** @param {string} packageDir @returns {import('jest').Config} */
export function createJestConfig(packageDir, overrides = {}) {
  return {
    rootDir: packageDir,
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
    testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
    transform: {
      // @fastify/static (under @fastify/swagger-ui, used by @ecps/codex-api) require()s content-disposition, which
      // ships only ESM: Node 20 loads it natively, Jest's CommonJS loader does not, so it is compiled to CommonJS.
      'content-disposition/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
      '^.+\\.(t|j)s$': [
        '@swc/jest',
        {
          jsc: { parser: { syntax: 'typescript' }, target: 'es2022', keepClassNames: true },
          module: { type: 'es6' },
          sourceMaps: 'inline',
        },
      ],
    },
    transformIgnorePatterns: ['/node_modules/(?!(\\.pnpm/content-disposition@[^/]+/node_modules/)?content-disposition/)'],
    moduleNameMapper: { ...workspaceSourceMap(), '^(\\.{1,2}/.*)\\.js$': '$1' },
    testTimeout: 30_000,
    ...overrides,
  };
}
