import { defineConfig } from 'tsup';
import { libraryConfig } from '@ecps/tsup-config';

// shims: import.meta.url in the CJS build (the native binding is found next to the package from it)
export default defineConfig(libraryConfig(import.meta.dirname, { shims: true }));
