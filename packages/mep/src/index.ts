// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/mep.

export { createMemoryStore, MemoryStore, DEFAULT_QUERY_K, DEFAULT_MAX_QUERY_K, PUT_OK_MESSAGE } from './memory-store';
export { serveMemoryStore, MemoryStoreClient, MEMORY_STORE_SERVICES } from './service';
export { MEP_EVENT_TYPES, mepTopics, QUORUM_NOT_REACHED } from './replication';
export { writeSnapshotFile, readSnapshotFile } from './snapshot-file';
export { recallAtK } from './approximate-index';
export { supersedes, wins } from './causality';

export type { MemoryStoreOptions, MemoryRecord, QueryHit } from './memory-store';
export type { MemoryStoreHandler, MemoryStoreEndpointOptions } from './service';
export type { ReplicationOptions, ConsistencyMode } from './replication';
export type { ApproximateIndex, ApproximateIndexFactory } from './approximate-index';
export type { VectorPrecision } from './exact-index';
export type { DotValue, HlcValue, Versioned } from './causality';
export type { RawTensor } from './ltp-frame';
