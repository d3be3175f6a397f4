import { defineConfig } from 'tsup';
import { libraryConfig } from '@ecps/tsup-config';

export default defineConfig(libraryConfig(import.meta.dirname));
