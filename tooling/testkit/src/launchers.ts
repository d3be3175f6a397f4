// SPDX-License-Identifier: Apache-2.0
// The service launchers alone, for programs outside Jest (benchmarks, scripts): no test-framework imports.
export { startMosquitto } from './mosquitto';
export { startAedes } from './aedes';
export { freePort, waitForPort } from './free-port';

export type { MosquittoOptions, MosquittoHandle } from './mosquitto';
export type { AedesHandle } from './aedes';
