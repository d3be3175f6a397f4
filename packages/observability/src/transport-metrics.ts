// SPDX-License-Identifier: Apache-2.0
// The metric instruments of a traced transport. Attributes stay low-cardinality: transport kind, CloudEvents type,
// RPC service and method, outcome; never topics or ids.
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';

export interface TransportMetrics {
  sentBytes: Counter;
  receivedBytes: Counter;
  publishDuration: Histogram;
  processDuration: Histogram;
  clientDuration: Histogram;
  serverDuration: Histogram;
}

/** Metric names, for dashboards and tests. */
export const METRIC_NAMES = {
  sentBytes: 'ecps.messaging.sent.bytes',
  receivedBytes: 'ecps.messaging.received.bytes',
  publishDuration: 'ecps.messaging.publish.duration',
  processDuration: 'ecps.messaging.process.duration',
  clientDuration: 'ecps.rpc.client.duration',
  serverDuration: 'ecps.rpc.server.duration',
} as const;

export function createTransportMetrics(meter: Meter): TransportMetrics {
  const ms = (name: string, description: string) => meter.createHistogram(name, { unit: 'ms', description });
  return {
    sentBytes: meter.createCounter(METRIC_NAMES.sentBytes, { unit: 'By', description: 'Event data bytes sent (publishes, requests, replies, stream events)' }),
    receivedBytes: meter.createCounter(METRIC_NAMES.receivedBytes, { unit: 'By', description: 'Event data bytes received' }),
    publishDuration: ms(METRIC_NAMES.publishDuration, 'Time until the transport accepted a publish (acknowledged for QoS >= 1)'),
    processDuration: ms(METRIC_NAMES.processDuration, 'Time a subscription handler took for one event'),
    clientDuration: ms(METRIC_NAMES.clientDuration, 'Request/reply and server-stream durations seen by the requester'),
    serverDuration: ms(METRIC_NAMES.serverDuration, 'Handler durations of served requests and streams'),
  };
}

export type { Attributes };
