// SPDX-License-Identifier: Apache-2.0
// Membership changes travel in the log as encoded `RaftConfChange` messages.
import { ValidationError } from '@ecps/core';
import { RaftConfChange, RaftConfChangeType } from '@ecps/proto/ext/v1';
import type { ConfChange, ConfChangeType, ConfState } from './types';

const toWire: Record<ConfChangeType, RaftConfChangeType> = {
  addVoter: RaftConfChangeType.RAFT_CONF_ADD_VOTER,
  removeNode: RaftConfChangeType.RAFT_CONF_REMOVE_NODE,
  addLearner: RaftConfChangeType.RAFT_CONF_ADD_LEARNER,
};

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return RaftConfChange.encode({ type: toWire[cc.type], nodeId: cc.nodeId }).finish();
}

/** @throws ValidationError `DECODE_ERROR` for bytes that are not a known change. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  let wire: RaftConfChange;
  try {
    wire = RaftConfChange.decode(data);
  } catch (cause) {
    throw new ValidationError('DECODE_ERROR', 'membership change entry is not a RaftConfChange', { cause });
  }
  const type = (Object.keys(toWire) as ConfChangeType[]).find((k) => toWire[k] === wire.type);
  if (type === undefined || wire.nodeId === '') {
    throw new ValidationError('DECODE_ERROR', `unknown membership change ${wire.type} for '${wire.nodeId}'`);
  }
  return { type, nodeId: wire.nodeId };
}

/** The configuration after `cc` (idempotent: re-applying a change is a no-op). */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const voters = conf.voters.filter((v) => v !== cc.nodeId);
  const learners = conf.learners.filter((v) => v !== cc.nodeId);
  if (cc.type === 'addVoter') voters.push(cc.nodeId);
  else if (cc.type === 'addLearner') {
    // a voter is never silently demoted by an add-learner
    if (conf.voters.includes(cc.nodeId)) voters.push(cc.nodeId);
    else learners.push(cc.nodeId);
  }
  return { voters: voters.sort(), learners: learners.sort() };
}
