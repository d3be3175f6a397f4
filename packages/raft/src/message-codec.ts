// SPDX-License-Identifier: Apache-2.0
// Raft messages, entries, hard states and snapshots to and from their protobuf form (coordination.proto).
import { ValidationError, varintSize } from '@ecps/core';
import {
  RaftEntryType,
  RaftMessage,
  RaftMessageType,
} from '@ecps/proto/ext/v1';
import type { RaftEntry, RaftSnapshot } from '@ecps/proto/ext/v1';
import type { Entry, Message, MessageType, Snapshot } from './types';

const TYPES: Record<MessageType, RaftMessageType> = {
  append: RaftMessageType.RAFT_APPEND,
  appendResponse: RaftMessageType.RAFT_APPEND_RESPONSE,
  vote: RaftMessageType.RAFT_VOTE,
  voteResponse: RaftMessageType.RAFT_VOTE_RESPONSE,
  preVote: RaftMessageType.RAFT_PRE_VOTE,
  preVoteResponse: RaftMessageType.RAFT_PRE_VOTE_RESPONSE,
  heartbeat: RaftMessageType.RAFT_HEARTBEAT,
  heartbeatResponse: RaftMessageType.RAFT_HEARTBEAT_RESPONSE,
  snapshot: RaftMessageType.RAFT_SNAPSHOT,
  timeoutNow: RaftMessageType.RAFT_TIMEOUT_NOW,
  readIndex: RaftMessageType.RAFT_READ_INDEX,
  readIndexResponse: RaftMessageType.RAFT_READ_INDEX_RESPONSE,
  transferLeader: RaftMessageType.RAFT_TRANSFER_LEADER,
  snapshotAck: RaftMessageType.RAFT_SNAPSHOT_ACK,
};
const FROM_WIRE = new Map<RaftMessageType, MessageType>(
  (Object.entries(TYPES) as [MessageType, RaftMessageType][]).map(([k, v]) => [v, k]),
);

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** @throws ValidationError `DECODE_ERROR` when a uint64 exceeds 2^53 (no real log gets there). */
function num(v: bigint): number {
  if (v > MAX_SAFE) throw new ValidationError('DECODE_ERROR', `index/term ${v} exceeds 2^53`);
  return Number(v);
}

export function entryToWire(e: Entry): RaftEntry {
  return {
    term: BigInt(e.term),
    index: BigInt(e.index),
    type: e.type === 'conf' ? RaftEntryType.RAFT_ENTRY_CONF_CHANGE : RaftEntryType.RAFT_ENTRY_NORMAL,
    data: e.data,
  };
}

export function entryFromWire(w: RaftEntry): Entry {
  return {
    term: num(w.term),
    index: num(w.index),
    type: w.type === RaftEntryType.RAFT_ENTRY_CONF_CHANGE ? 'conf' : 'normal',
    data: w.data,
  };
}

export function snapshotToWire(s: Snapshot): RaftSnapshot {
  return {
    meta: {
      index: BigInt(s.meta.index),
      term: BigInt(s.meta.term),
      confState: { voters: [...s.meta.confState.voters], learners: [...s.meta.confState.learners] },
    },
    data: s.data,
  };
}

export function snapshotFromWire(w: RaftSnapshot): Snapshot {
  const m = w.meta;
  return {
    meta: {
      index: num(m?.index ?? 0n),
      term: num(m?.term ?? 0n),
      confState: { voters: m?.confState?.voters ?? [], learners: m?.confState?.learners ?? [] },
    },
    data: w.data,
  };
}

/** Encodes a message as a `RaftMessage`; `clusterId` keeps two clusters on one network apart. */
export function encodeRaftMessage(m: Message, clusterId = ''): Uint8Array {
  return RaftMessage.encode({
    type: TYPES[m.type],
    from: m.from,
    to: m.to,
    term: BigInt(m.term),
    logTerm: BigInt(m.logTerm),
    index: BigInt(m.index),
    entries: m.entries.map(entryToWire),
    commit: BigInt(m.commit),
    reject: m.reject,
    rejectHint: BigInt(m.rejectHint),
    snapshot: m.snapshot ? snapshotToWire(m.snapshot) : undefined,
    context: m.context ?? new Uint8Array(0),
    clusterId,
    snapshotOffset: BigInt(m.snapshotOffset ?? 0),
    snapshotSize: BigInt(m.snapshotSize ?? 0),
  }).finish();
}

/** @throws ValidationError `DECODE_ERROR` for bytes that are not a Raft message. */
export function decodeRaftMessage(bytes: Uint8Array): { message: Message; clusterId: string } {
  let w: RaftMessage;
  try {
    w = RaftMessage.decode(bytes);
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', 'not a RaftMessage', { cause });
  }
  const type = FROM_WIRE.get(w.type);
  if (type === undefined || w.from === '' || w.to === '') {
    throw new ValidationError('DECODE_ERROR', `RaftMessage of unknown type ${w.type} or without from/to`);
  }
  const message: Message = {
    type,
    from: w.from,
    to: w.to,
    term: num(w.term),
    logTerm: num(w.logTerm),
    index: num(w.index),
    entries: w.entries.map(entryFromWire),
    commit: num(w.commit),
    reject: w.reject,
    rejectHint: num(w.rejectHint),
    ...(w.snapshot ? { snapshot: snapshotFromWire(w.snapshot) } : {}),
    ...(w.context.length > 0 ? { context: w.context } : {}),
    ...(w.snapshotOffset > 0n ? { snapshotOffset: num(w.snapshotOffset) } : {}),
    ...(w.snapshotSize > 0n ? { snapshotSize: num(w.snapshotSize) } : {}),
  };
  return { message, clusterId: w.clusterId };
}

/** An upper bound on the bytes `e` adds to an encoded `RaftMessage` (tag, length and the entry's fields). */
export function entryWireSize(e: Entry): number {
  const inner = 1 + varintSize(e.term) + 1 + varintSize(e.index) + 2 + 1 + varintSize(e.data.length) + e.data.length;
  return 1 + varintSize(inner) + inner;
}

/**
 * An upper bound on the bytes of a `RaftMessage` besides its entries and snapshot: the fixed fields, two node ids
 * and a cluster id of at most 64 characters, and a read context of up to 256 bytes.
 */
export const MESSAGE_OVERHEAD_BYTES = 512;
