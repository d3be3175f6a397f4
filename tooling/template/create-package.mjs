#!/usr/bin/env node
// Creates a new publishable package with the project's conventions:
//   pnpm new-package <name> "<one-line description>" [--dir packages|apps]
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [name, description = ''] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dirFlag = process.argv.indexOf('--dir');
const group = dirFlag > 0 ? process.argv[dirFlag + 1] : 'packages';
if (!name || !/^[a-z][a-z0-9-]*$/.test(name)) {
  console.error('usage: pnpm new-package <kebab-name> "<description>" [--dir packages|apps]');
  process.exit(2);
}
const dir = join(root, group, name);
if (existsSync(dir)) {
  console.error(`${dir} already exists`);
  process.exit(1);
}
const files = {
  'package.json': JSON.stringify(
    {
      name: `@ecps/${name}`,
      version: '0.1.0',
      description,
      license: 'Apache-2.0',
      type: 'module',
      sideEffects: false,
      engines: { node: '>=20.19' },
      main: './dist/index.cjs',
      module: './dist/index.js',
      types: './dist/index.d.ts',
      exports: {
        '.': {
          import: { types: './dist/index.d.ts', default: './dist/index.js' },
          require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
        },
        './package.json': './package.json',
      },
      files: ['dist', 'README.md'],
      scripts: {
        build: 'tsup',
        typecheck: 'tsc -p tsconfig.json',
        lint: 'eslint --config ../../tooling/eslint/eslint.config.js src',
        test: 'node ../../tooling/scripts/jest.mjs',
        'check:package': 'node ../../tooling/scripts/check-packages.mjs .',
      },
      dependencies: { '@ecps/core': 'workspace:^' },
      devDependencies: { '@ecps/jest-preset': 'workspace:*', '@ecps/tsup-config': 'workspace:*' },
      publishConfig: { access: 'public' },
    },
    null,
    2,
  ) + '\n',
  'tsconfig.json': JSON.stringify({ extends: '../../tooling/tsconfig/base.json', include: ['src', 'test'] }, null, 2) + '\n',
  'tsup.config.ts': `import { defineConfig } from 'tsup';\nimport { libraryConfig } from '@ecps/tsup-config';\n\nexport default defineConfig(libraryConfig(import.meta.dirname));\n`,
  'jest.config.js': `import { createJestConfig } from '@ecps/jest-preset';\n\nexport default createJestConfig(import.meta.dirname);\n`,
  'README.md': `# @ecps/${name}\n\n${description}\n\n## Install\n\n\`\`\`sh\npnpm add @ecps/${name}\n\`\`\`\n\n## Example\n\n## Errors\n`,
  'src/index.ts': `// SPDX-License-Identifier: Apache-2.0\n// The public surface of @ecps/${name}.\n\nexport {};\n`,
};
for (const [file, text] of Object.entries(files)) {
  mkdirSync(dirname(join(dir, file)), { recursive: true });
  writeFileSync(join(dir, file), text);
}
console.log(`created ${group}/${name}; run pnpm install`);
