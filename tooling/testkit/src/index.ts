// SPDX-License-Identifier: Apache-2.0
// @ecps/testkit (private): what the test suites of every package share.

export { describeTransportConformance, testEvent } from './transport-conformance';
export { waitFor, sleep } from './wait';
export { vectorsDir } from './paths';
export { bundleEntry } from './bundle-entry';

export type { TransportPair, ConformanceOptions } from './transport-conformance';
