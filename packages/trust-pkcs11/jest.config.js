import { createJestConfig } from '@ecps/jest-preset';

export default createJestConfig(import.meta.dirname, {
  globalSetup: '<rootDir>/test/softhsm-global-setup.ts',
  globalTeardown: '<rootDir>/test/softhsm-global-teardown.ts',
});
