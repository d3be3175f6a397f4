// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/transport-dds.

export { ddsTransport } from './dds-transport';
export { ddsBindingStatus } from './native';
export { encodeEnvelope, decodeEnvelope, MAX_EXTENSIONS } from './envelope-cdr';
export { ddsTopicName } from './topic-names';

export type { DdsTransport, DdsTransportOptions, DdsTransportStats } from './dds-transport';
