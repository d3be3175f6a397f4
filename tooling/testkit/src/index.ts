// SPDX-License-Identifier: Apache-2.0
// @ecps/testkit (private): what the test suites of every package share.

export { describeTransportConformance, testEvent } from './transport-conformance';
export { waitFor, sleep } from './wait';
export { vectorsDir } from './paths';
export { createSoftHsmToken, softHsmAvailable, softHsmModulePath } from './softhsm';

export type { TransportPair, ConformanceOptions } from './transport-conformance';
export type { SoftHsmToken } from './softhsm';
