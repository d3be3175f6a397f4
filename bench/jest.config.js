import { createJestConfig } from '@ecps/jest-preset';

export default createJestConfig(import.meta.dirname);
