import { defineConfig } from 'tsup';
import { libraryConfig } from '@ecps/tsup-config';

// shims: import.meta.url in the CJS build (the token thread resolves graphene-pk11 from it)
export default defineConfig(libraryConfig(import.meta.dirname, { shims: true }));
