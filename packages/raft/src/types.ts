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
  | 'transferLeader'
  | 'snapshotAck';

/**
 * One Raft message; the type decides which fields mean something (as in etcd's raftpb.Message). Heartbeats carry the
 * leader's tick stamp in `index` and their responses echo it (the leader lease).
 */
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
  /** `snapshot`: the chunk's meta and bytes (`data` is the chunk). */
  readonly snapshot?: Snapshot;
  readonly context?: Uint8Array;
  /** `snapshot`: where the chunk starts in the snapshot data; `snapshotAck`: the bytes the follower holds. */
  readonly snapshotOffset?: number;
  /** `snapshot`: the total size of the snapshot data. */
  readonly snapshotSize?: number;
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
 * What the core asks its driver to do:
 * 1. persist `snapshot` (if any), then `entries` (truncating the stored log at `entries[0].index`), then `hardState`,
 *    in the order of the Readys, and make that durable when `mustSync`; once durable, report it with
 *    `RaftCore.stableTo` (the leader counts its own copy of an entry only then);
 * 2. send `messages`: when `mustSync`, only those {@link sendableBeforePersist} may leave before the write is durable
 *    (the leader's appends go out in parallel with its own write, thesis §10.2.1); the rest wait for it;
 * 3. restore the state machine from `snapshot` (if any), then apply `committedEntries` in order (they are durable on
 *    a majority, so this does not wait for the local write);
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

/**
 * True for the messages a node may send before the write of their Ready is durable: what a leader sends to replicate
 * (appends, heartbeats, snapshot chunks, the transfer's TimeoutNow), read-index traffic, and pre-votes (which change
 * no state). Votes, vote responses and acknowledgements promise durable state and wait for the write.
 */
export function sendableBeforePersist(m: Message): boolean {
  switch (m.type) {
    case 'append':
    case 'heartbeat':
    case 'heartbeatResponse':
    case 'snapshot':
    case 'timeoutNow':
    case 'readIndex':
    case 'readIndexResponse':
    case 'transferLeader':
    case 'preVote':
    case 'preVoteResponse':
    case 'snapshotAck':
      return true;
    default:
      return false;
  }
}
