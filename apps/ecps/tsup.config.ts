import { defineConfig } from 'tsup';
import { entriesFromExports } from '@ecps/tsup-config';

// An application: one ESM bundle with a shebang; workspace packages stay external (installed alongside).
export default defineConfig({
  entry: entriesFromExports(import.meta.dirname),
  format: ['esm'],
  target: 'es2022',
  platform: 'node',
  sourcemap: true,
  clean: true,
  banner: { js: '#!/usr/bin/env node' },
});
