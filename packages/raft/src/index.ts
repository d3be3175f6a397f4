// SPDX-License-Identifier: Apache-2.0
// @ecps/raft: Raft consensus as a deterministic core plus drivers, storage and a replicated key-value store.

export { RaftCore } from './raft-core';
export { MemoryStorage } from './storage';
export { FileStorage } from './file-storage';
export { nodeDisk } from './disk';
export { KvStateMachine } from './kv-state-machine';
export { encodeConfChange, decodeConfChange, applyConfChange } from './conf-change';
export { encodeRaftMessage, decodeRaftMessage } from './message-codec';
export { RaftNode } from './raft-node';
export { sendableBeforePersist } from './types';
export { transportNetwork, raftTopic, RAFT_EVENT_TYPE, peerWarner } from './transport-network';
export { serveKv, kvService, KV_REQUEST_TYPE, KV_RESPONSE_TYPE } from './kv-service';
export { kvEndpoint } from './kv-endpoint';
export { KvClient, transportKvChannel } from './kv-client';

export type { RaftCoreOptions } from './raft-core';
export type { RaftStorage, PersistedState, PersistBatch } from './storage';
export type { FileStorageOptions, FsyncPolicy } from './file-storage';
export type { Disk, DiskFile } from './disk';
export type { StateMachine } from './state-machine';
export type { KvLimits } from './kv-state-machine';
export type { RaftNetwork, RaftNodeOptions, RaftStatus } from './raft-node';
export type { TransportNetworkOptions } from './transport-network';
export type { KvServerOptions } from './kv-service';
export type { KvEndpoint, KvEndpointOptions, KvOperation } from './kv-endpoint';
export type { KvChannel, KvClientOptions, KvGetResult, KvWriteOptions } from './kv-client';
export type {
  NodeId,
  Entry,
  EntryType,
  ConfChange,
  ConfChangeType,
  ConfState,
  SnapshotMeta,
  Snapshot,
  HardState,
  MessageType,
  Message,
  Role,
  SoftState,
  ReadState,
  Ready,
} from './types';
