import { defineConfig } from 'tsup';

// An application: one ESM bundle; workspace packages stay external (installed alongside). bin/ecps.js runs it.
export default defineConfig({
  entry: { cli: 'src/cli.ts' },
  format: ['esm'],
  target: 'es2022',
  platform: 'node',
  sourcemap: true,
  clean: true,
});
