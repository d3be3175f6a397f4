import { defineConfig } from 'tsup';
import { libraryConfig } from '@ecps/tsup-config';

// usearch is an optional native dependency: never bundle it, load it at run time.
export default defineConfig(libraryConfig(import.meta.dirname, { external: ['usearch'] }));
