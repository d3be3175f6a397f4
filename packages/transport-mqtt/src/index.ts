// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/transport-mqtt.

export { mqttTransport, defaultBackoff } from './mqtt-transport';
export { FileStore } from './file-store';
export { encodeWire, decodeWire } from './wire';
export { qosForType } from './qos-table';

export type { MqttTransport, MqttTransportOptions, MqttTransportStats, MqttTlsOptions, BackoffFn } from './mqtt-transport';
export type { QueueFullPolicy } from './publish-gate';
export type { FileStoreOptions } from './file-store';
export type { WireMessage, PublishProperties } from './wire';
