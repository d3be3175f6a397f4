// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/observability (depends on @opentelemetry/api only; wire an SDK in the app,
// e.g. with @ecps/observability-node).

export { tracedTransport, INSTRUMENTATION_NAME } from './traced-transport';
export { METRIC_NAMES } from './transport-metrics';
export { traceHeaders, traceMetadata, withTraceContext, contextFromEvent } from './trace-context';

export type { TracedTransportOptions } from './traced-transport';
