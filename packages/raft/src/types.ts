// SPDX-License-Identifier: Apache-2.0
// The data the Raft core works on. Terms and indexes are JS numbers (exact up to 2^53, which no log reaches);
// the wire form (coordination.proto) carries them as uint64.

/** A node id: `[A-Za-z0-9._-]{1,64}` like every ECPS node id. */
export type NodeId = string;

export type EntryType = 'normal' | 'conf';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Normal entries: the state machine command (empty = the leader's no-op). Conf entries: an encoded `RaftConfChange`. */
  readonly data: Uint8Array;
}

export type ConfChangeType = 'addVoter' | 'removeNode' | 'addLearner';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export interface HardState {
  readonly term: number;
  /** '' = no vote in this term. */
  readonly vote: NodeId;
  readonly commit: number;
}

export type MessageType =
  | 'append'
  | 'appendResponse'
  | 'vote'
  | 'voteResponse'
  | 'preVote'
  | 'preVoteResponse'
  | 'heartbeat'
  | 'heartbeatResponse'
  | 'snapshot'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResponse'
  | 'transferLeader';

/** One Raft message; the type decides which fields mean something (as in etcd's raftpb.Message). */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly snapshot?: Snapshot;
  readonly context?: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/** A linearizable read point: once the state machine has applied `index`, a read tagged `context` may be served. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

/**
 * What the core asks its driver to do, in this order:
 * 1. persist `snapshot` (if any), then `entries` (truncating the stored log at `entries[0].index`), then `hardState`,
 *    and make that durable when `mustSync`;
 * 2. send `messages`;
 * 3. restore the state machine from `snapshot` (if any), then apply `committedEntries` in order;
 * 4. serve `readStates` once the applied index reaches each one's index.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
}
