// SPDX-License-Identifier: Apache-2.0
// Which changes a sync message or snapshot carries, and who made them: (hash, actor) without decoding the ops.
// An uncompressed change chunk is read from its header (the hash is sha256 over the chunk after magic and
// checksum); compressed changes and whole-document chunks (Automerge sends one to a peer that has nothing)
// go through Automerge itself.
import { createHash } from 'node:crypto';
import * as A from '@automerge/automerge';
import { PeatError } from '../errors';
import { toHex } from '@ecps/core';

/** One change: its 32-byte hash (hex) and its author's actor id (hex). */
export interface ChangeInfo {
  readonly hash: string;
  readonly actor: string;
}

const MAGIC = [0x85, 0x6f, 0x4a, 0x83];

function uleb(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (let i = at; i < bytes.length && i < at + 5; i++) {
    const b = bytes[i]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, i + 1];
    shift += 7;
  }
  throw new PeatError('DECODE_ERROR', 'malformed LEB128 in an Automerge chunk');
}

function changeFromHeader(chunk: Uint8Array, bodyAt: number): ChangeInfo {
  const hash = createHash('sha256').update(chunk.subarray(8)).digest();
  for (let i = 0; i < 4; i++) {
    if (hash[i] !== chunk[4 + i]) throw new PeatError('CHECKSUM_MISMATCH', 'Automerge change checksum does not match');
  }
  const [ndeps, depsAt] = uleb(chunk, bodyAt);
  const [actorLen, actorAt] = uleb(chunk, depsAt + ndeps * 32);
  if (actorAt + actorLen > chunk.length) throw new PeatError('DECODE_ERROR', 'truncated actor in an Automerge change');
  return { hash: hash.toString('hex'), actor: toHex(chunk.subarray(actorAt, actorAt + actorLen)) };
}

function oneChunk(chunk: Uint8Array, bodyAt: number): ChangeInfo[] {
  if (chunk[8] === 1) return [changeFromHeader(chunk, bodyAt)];
  if (chunk[8] === 2) {
    const c = A.decodeChange(chunk);
    return [{ hash: c.hash, actor: c.actor }];
  }
  const doc = A.load(chunk);
  try {
    return A.getChangesMetaSince(doc, []).map((c) => ({ hash: c.hash, actor: c.actor }));
  } finally {
    A.free(doc);
  }
}

/**
 * The changes inside one entry of a sync message: one or more concatenated chunks (changes, compressed changes,
 * whole documents). @throws PeatError `DECODE_ERROR` / `CHECKSUM_MISMATCH` for anything Automerge would not accept.
 */
export function changesInChunk(entry: Uint8Array): ChangeInfo[] {
  const out: ChangeInfo[] = [];
  let at = 0;
  try {
    while (at < entry.length) {
      const rest = entry.subarray(at);
      if (rest.length < 10 || MAGIC.some((b, i) => rest[i] !== b)) throw new PeatError('DECODE_ERROR', 'not an Automerge chunk');
      const [len, bodyAt] = uleb(rest, 9);
      if (bodyAt + len > rest.length) throw new PeatError('DECODE_ERROR', 'truncated Automerge chunk');
      out.push(...oneChunk(rest.subarray(0, bodyAt + len), bodyAt));
      at += bodyAt + len;
    }
  } catch (cause) {
    if (cause instanceof PeatError) throw cause;
    throw new PeatError('DECODE_ERROR', 'malformed Automerge chunk', { cause });
  }
  if (out.length === 0) throw new PeatError('DECODE_ERROR', 'empty Automerge chunk');
  return out;
}

/** Every change an encoded sync message carries. @throws PeatError `DECODE_ERROR`. */
export function changesInSyncMessage(message: Uint8Array): ChangeInfo[] {
  let decoded;
  try {
    decoded = A.decodeSyncMessage(message);
  } catch (cause) {
    throw new PeatError('DECODE_ERROR', 'malformed Automerge sync message', { cause });
  }
  return decoded.changes.flatMap((c) => changesInChunk(c));
}

/** Every change a saved document carries. @throws PeatError `DECODE_ERROR`. */
export function changesInSnapshot(doc: A.Doc<unknown>): ChangeInfo[] {
  return A.getChangesMetaSince(doc, []).map((c) => ({ hash: c.hash, actor: c.actor }));
}
