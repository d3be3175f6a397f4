// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/observability-node: the OpenTelemetry Node SDK wired with OTLP/HTTP for apps.

export { startNodeTelemetry, OBSERVABILITY_BATCH_INTERVAL_MS } from './node-telemetry';

export type { NodeTelemetry, NodeTelemetryOptions } from './node-telemetry';
