import { defineConfig } from 'tsup';
import { libraryConfig } from '@ecps/tsup-config';

// shims: import.meta.url in the CJS build (session mode loads sodium-native through createRequire from it)
export default defineConfig(libraryConfig(import.meta.dirname, { shims: true }));
