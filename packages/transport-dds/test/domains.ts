// SPDX-License-Identifier: Apache-2.0
// One DDS domain id per test file, so test files never see each other's traffic (the run's discovery tag keeps
// concurrent runs on this machine apart; see cyclone-global-setup.ts).
export const DOMAINS = {
  conformance: 11,
  conformanceProcesses: 12,
  cInterop: 13,
  ddsperf: 14,
  qos: 15,
  flow: 16,
  wildcards: 17,
  runtime: 18,
  lifecycle: 19,
  lifecycleProcess: 20,
  batching: 21,
} as const;
