// SPDX-License-Identifier: Apache-2.0
// @ecps/testkit (private): what the test suites of every package share.

export { describeTransportConformance, testEvent } from './transport-conformance';
export { waitFor, sleep } from './wait';
export { vectorsDir } from './paths';
export { generateTestCertificates } from './tls-certificates';
export { startTcpProxy } from './tcp-proxy';

export type { TransportPair, ConformanceOptions } from './transport-conformance';
export type { TestCertificates } from './tls-certificates';
export type { TcpProxy } from './tcp-proxy';
