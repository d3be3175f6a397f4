import { defineConfig } from 'tsup';
import { libraryConfig } from '@ecps/tsup-config';

// @mongodb-js/zstd is an optional dependency, loaded at run time when node:zlib has no zstd: never bundle it.
export default defineConfig(libraryConfig(import.meta.dirname, { external: ['@mongodb-js/zstd'] }));
