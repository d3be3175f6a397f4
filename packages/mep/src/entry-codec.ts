// SPDX-License-Identifier: Apache-2.0
// StoredEntry <-> ecps.ext.v1.MepEntry (spec §7.3). Incoming tensors are validated like a Put (§3).
import { ValidationError } from '@ecps/core';
import type { MepEntry } from '@ecps/proto/ext/v1';
import type { IncomingEntry, StoredEntry } from './local-memory';
import { decodeRawTensor, encodeRawTensor } from './ltp-frame';

/**
 * The wire form of a version. The tensor travels as an LTP DATA frame with `attributes["mep_id"]` = key and codec
 * `none`: replicas and snapshots are read only by our nodes, and embeddings barely compress.
 */
export async function toMepEntry(entry: StoredEntry): Promise<MepEntry> {
  return {
    key: entry.key,
    tensor: entry.tensor
      ? await encodeRawTensor(entry.tensor, { frameId: entry.frameId, timestampNs: entry.timestampNs, attributes: { mep_id: entry.key }, codec: 'none' })
      : undefined,
    dot: { nodeId: entry.dot.nodeId, counter: entry.dot.counter },
    context: { ...entry.context },
    hlc: { wallNs: entry.hlc.wallNs, logical: entry.hlc.logical },
    tombstone: entry.tensor === undefined,
  };
}

/** Validates and converts a received MepEntry. Throws a {@link ValidationError} on a malformed one. */
export async function fromMepEntry(entry: MepEntry): Promise<IncomingEntry> {
  if (entry.key === '') throw new ValidationError('INVALID_ARGUMENT', 'MepEntry without key');
  if (!entry.dot || entry.dot.nodeId === '' || entry.dot.counter === 0n) throw new ValidationError('INVALID_ARGUMENT', `MepEntry ${entry.key} without dot`);
  if (!entry.tombstone && !entry.tensor) throw new ValidationError('INVALID_ARGUMENT', `MepEntry ${entry.key} has neither tensor nor tombstone`);
  const tensor = entry.tombstone ? undefined : await decodeRawTensor(entry.tensor!);
  return {
    key: entry.key,
    tensor,
    frameId: entry.tensor?.frameId ?? '',
    timestampNs: entry.tensor?.timestampNs ?? 0n,
    dot: { nodeId: entry.dot.nodeId, counter: entry.dot.counter },
    context: { ...entry.context },
    hlc: { wallNs: entry.hlc?.wallNs ?? 0n, logical: entry.hlc?.logical ?? 0 },
  };
}
