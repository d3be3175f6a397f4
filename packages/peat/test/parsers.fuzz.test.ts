// SPDX-License-Identifier: Apache-2.0
// Fuzz targets for every parser of bytes from the network: frames and their payloads (batches, digests,
// signatures, tombstones), handshake messages, certificates, and Automerge chunks inside sync messages. Each must
// either decode or refuse with a typed error, and a decoded frame must re-encode to the same bytes.
import { describe, expect, it } from '@jest/globals';
import * as A from '@automerge/automerge';
import { isEcpsError } from '@ecps/core';
import { FuzzInvariantError, runFuzzTarget } from '@ecps/testkit/fuzz';
import type { FuzzTarget } from '@ecps/testkit/fuzz';
import { bytesEqual } from '../src/bytes';
import {
  FrameType,
  decodeChangeSignatures,
  decodeDigest,
  decodeFrame,
  decodeSyncBatch,
  decodeTombstoneAck,
  decodeTombstoneBatch,
  encodeChangeSignatures,
  encodeDigest,
  encodeFrame,
  encodeSyncBatch,
  encodeTombstoneAck,
  encodeTombstoneBatch,
} from '../src/frame';
import type { Frame } from '../src/frame';
import { decodeCertificate, encodeCertificate } from '../src/security/certificate';
import { decodeHandshake, encodeChallenge, encodeHello } from '../src/security/handshake';
import { changesInSyncMessage } from '../src/store/change-info';

const expected = (e: unknown) => isEcpsError(e);

const frameTarget: FuzzTarget = {
  name: 'peat-frame',
  seeds: [
    encodeFrame(encodeSyncBatch({ batchId: 1n, createdAt: 5, ttl: 5, frames: [{ key: 'events:a', type: FrameType.DeltaSync, payload: new Uint8Array([1, 2]) }] })),
    encodeFrame(encodeDigest('events', [{ id: 'a', hash: new Uint8Array(8) }])),
    encodeFrame(encodeTombstoneBatch([{ collection: 'tracks', documentId: 't', deletedAt: 1, deletedBy: 'n', lamport: 2 }])),
  ],
  run(input) {
    const frame = decodeFrame(input, 1 << 20);
    if (!bytesEqual(encodeFrame(frame), input)) throw new FuzzInvariantError('frame does not re-encode to its bytes');
    // payloads that decode must re-encode to the same bytes
    const same = (again: Frame) => {
      if (!bytesEqual(again.payload, frame.payload)) throw new FuzzInvariantError(`payload of type ${frame.type} does not re-encode`);
    };
    if (frame.type === FrameType.SyncBatch) {
      const b = decodeSyncBatch(frame.payload, 1 << 20);
      same(encodeSyncBatch(b));
    } else if (frame.type === FrameType.Digest) same(encodeDigest(frame.key, decodeDigest(frame.payload)));
    else if (frame.type === FrameType.ChangeSignatures) same(encodeChangeSignatures(frame.key, decodeChangeSignatures(frame.payload)));
    else if (frame.type === FrameType.TombstoneBatch) same(encodeTombstoneBatch(decodeTombstoneBatch(frame.payload)));
    else if (frame.type === FrameType.TombstoneAck) same(encodeTombstoneAck(decodeTombstoneAck(frame.payload)));
  },
  isExpected: expected,
};

const handshakeTarget: FuzzTarget = {
  name: 'peat-handshake',
  seeds: [
    encodeHello({ formationId: 'f', nodeId: 'a'.repeat(32), nonce: new Uint8Array(32), publicKey: new Uint8Array(32).fill(1) }),
    encodeChallenge({ formationId: 'f', nodeId: 'b'.repeat(32), nonce: new Uint8Array(32), publicKey: new Uint8Array(32), certificate: new Uint8Array(148), mac: new Uint8Array(32), signature: new Uint8Array(64) }),
  ],
  run: (input) => void decodeHandshake(input),
  isExpected: expected,
};

const certificateTarget: FuzzTarget = {
  name: 'peat-certificate',
  seeds: [
    encodeCertificate({
      subjectPublicKey: new Uint8Array(32).fill(2),
      meshId: 'a1b2c3d4',
      nodeId: 'c'.repeat(32),
      tier: 3,
      permissions: 3,
      issuedAtMs: 1,
      expiresAtMs: 0,
      issuerPublicKey: new Uint8Array(32).fill(3),
      signature: new Uint8Array(64),
    }),
  ],
  run(input) {
    const cert = decodeCertificate(input);
    if (!bytesEqual(encodeCertificate(cert), input)) throw new FuzzInvariantError('certificate does not re-encode to its bytes');
  },
  isExpected: expected,
};

function syncMessageSeed(): Uint8Array {
  const doc = A.change(A.init<Record<string, unknown>>({ actor: 'ab'.repeat(20) }), (d) => void (d['v'] = 1));
  const [, theirs] = A.generateSyncMessage(A.init(), A.initSyncState());
  const [, state] = A.receiveSyncMessage(doc, A.initSyncState(), theirs!);
  return A.generateSyncMessage(doc, state)[1]!;
}

const changesTarget: FuzzTarget = {
  name: 'peat-sync-message-changes',
  seeds: [syncMessageSeed()],
  run: (input) => void changesInSyncMessage(input),
  isExpected: expected,
};

describe('fuzz: Peat parsers refuse bad bytes with typed errors', () => {
  for (const target of [frameTarget, handshakeTarget, certificateTarget, changesTarget]) {
    it(target.name, async () => {
      const report = await runFuzzTarget(target);
      expect(report.failure).toBeUndefined();
      expect(report.crashes + report.untypedExceptions).toBe(0);
      expect(report.iterations).toBeGreaterThan(10);
    }, 60_000);
  }
});
