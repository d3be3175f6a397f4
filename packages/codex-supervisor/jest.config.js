import { createJestConfig } from '@ecps/jest-preset';

// Tests run real processes (node startup, 5 s grace periods): give them room on a loaded shared machine.
export default createJestConfig(import.meta.dirname, { testTimeout: 120_000 });
