// SPDX-License-Identifier: Apache-2.0
// @ecps/testkit (private): what the test suites of every package share.

export { describeTransportConformance, testEvent } from './transport-conformance';
export { waitFor, sleep } from './wait';
export { vectorsDir } from './paths';
export { bundleEntry } from './bundle-entry';
export { faultyTransport } from './faulty-transport';
export { freePort, waitForPort } from './free-port';
export { startMosquitto } from './mosquitto';
export { startAedes } from './aedes';

export type { TransportPair, ConformanceOptions } from './transport-conformance';
export type { FaultOptions, FaultCounters, FaultyTransport } from './faulty-transport';
export type { MosquittoOptions, MosquittoHandle } from './mosquitto';
export type { AedesHandle } from './aedes';
