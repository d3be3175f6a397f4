// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/mep-hnsw.

export { hnswIndex, hnswAvailable } from './hnsw-index';

export type { HnswOptions } from './hnsw-index';
