// SPDX-License-Identifier: Apache-2.0
// The file write-ahead log: one append-only file of CRC-framed protobuf records (entries and hard states) plus a
// snapshot file replaced atomically. Recovery replays the log and cuts a torn tail at the first bad record.
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EcpsError } from '@ecps/core';
import { RaftEntry, RaftHardState, RaftSnapshot } from '@ecps/proto/ext/v1';
import { entryFromWire, entryToWire, snapshotFromWire, snapshotToWire } from './message-codec';
import type { PersistBatch, PersistedState, RaftStorage } from './storage';
import type { Entry, HardState, Snapshot } from './types';

/**
 * `always`: fdatasync once per Ready that changed the log, term or vote (the group commit: everything proposed in
 * one event-loop turn shares one fsync); safe against power loss. `never`: leave flushing to the OS; survives a
 * process crash (kill -9) but not a machine crash, where it may break Raft's safety.
 */
export type FsyncPolicy = 'always' | 'never';

export interface FileStorageOptions {
  /** Directory holding `wal.log` and `snapshot.bin` (created if missing). */
  readonly dir: string;
  readonly fsync?: FsyncPolicy;
}

const KIND_ENTRY = 1;
const KIND_HARD_STATE = 2;
const HEADER = 9; // u32 length of body, u32 crc32 of body, u8 kind

function frame(kind: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt8(kind, 8);
  out.set(body, HEADER);
  out.writeUInt32LE(crc32(out.subarray(8)), 4);
  return out;
}

/** A durable {@link RaftStorage} on the local file system. Not for use by two processes at once. */
export class FileStorage implements RaftStorage {
  private readonly walPath: string;
  private readonly snapPath: string;
  private readonly fsync: FsyncPolicy;
  private fd: number;
  private hardState: HardState | undefined;
  private snapshot: Snapshot | undefined;
  private log: Entry[] = [];
  /** Bytes of the log file cut off as a torn tail during the last load (for diagnostics and tests). */
  tornBytes = 0;

  /** @throws EcpsError `IO_ERROR` when the directory cannot be used; `LOG_CORRUPT` when the snapshot is unreadable. */
  constructor(options: FileStorageOptions) {
    this.fsync = options.fsync ?? 'always';
    try {
      mkdirSync(options.dir, { recursive: true });
    } catch (cause) {
      throw new EcpsError('IO_ERROR', `cannot create ${options.dir}`, { cause });
    }
    this.walPath = join(options.dir, 'wal.log');
    this.snapPath = join(options.dir, 'snapshot.bin');
    this.recover();
    this.fd = openSync(this.walPath, 'a');
  }

  load(): PersistedState {
    return {
      ...(this.hardState ? { hardState: this.hardState } : {}),
      ...(this.snapshot ? { snapshot: this.snapshot } : {}),
      entries: [...this.log],
    };
  }

  save(batch: PersistBatch, sync: boolean): void {
    if (batch.snapshot) this.installSnapshot(batch.snapshot, true);
    const parts: Buffer[] = [];
    const first = batch.entries[0];
    if (first) {
      const keep = this.log.findIndex((e) => e.index >= first.index);
      if (keep >= 0) this.log.length = keep;
      for (const e of batch.entries) {
        this.log.push(e);
        parts.push(frame(KIND_ENTRY, RaftEntry.encode(entryToWire(e)).finish()));
      }
    }
    if (batch.hardState) {
      this.hardState = batch.hardState;
      parts.push(frame(KIND_HARD_STATE, RaftHardState.encode(hardToWire(batch.hardState)).finish()));
    }
    if (parts.length === 0) return;
    try {
      writeSync(this.fd, Buffer.concat(parts));
      if (sync && this.fsync === 'always') fdatasyncSync(this.fd);
    } catch (cause) {
      throw new EcpsError('IO_ERROR', `write to ${this.walPath} failed`, { cause });
    }
  }

  compact(snapshot: Snapshot): void {
    this.installSnapshot(snapshot, false);
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  private installSnapshot(snapshot: Snapshot, replaceLog: boolean): void {
    if (this.snapshot && this.snapshot.meta.index >= snapshot.meta.index) return;
    this.snapshot = snapshot;
    this.log = replaceLog ? [] : this.log.filter((e) => e.index > snapshot.meta.index);
    try {
      // the snapshot first (atomically), then a fresh log holding what it does not cover
      writeAtomically(this.snapPath, frame(0, RaftSnapshot.encode(snapshotToWire(snapshot)).finish()));
      const parts = this.log.map((e) => frame(KIND_ENTRY, RaftEntry.encode(entryToWire(e)).finish()));
      if (this.hardState) parts.push(frame(KIND_HARD_STATE, RaftHardState.encode(hardToWire(this.hardState)).finish()));
      closeSync(this.fd);
      writeAtomically(this.walPath, Buffer.concat(parts));
      this.fd = openSync(this.walPath, 'a');
    } catch (cause) {
      throw new EcpsError('IO_ERROR', `cannot store the snapshot at ${snapshot.meta.index}`, { cause });
    }
  }

  private recover(): void {
    if (existsSync(this.snapPath)) {
      const bytes = readFileSync(this.snapPath);
      const body = bytes.subarray(HEADER, HEADER + (bytes.length >= HEADER ? bytes.readUInt32LE(0) : 0));
      if (bytes.length < HEADER || body.length !== bytes.readUInt32LE(0) || crc32(bytes.subarray(8, HEADER + body.length)) !== bytes.readUInt32LE(4)) {
        throw new EcpsError('LOG_CORRUPT', `${this.snapPath} fails its checksum`);
      }
      this.snapshot = snapshotFromWire(RaftSnapshot.decode(body));
    }
    if (!existsSync(this.walPath)) return;
    const bytes = readFileSync(this.walPath);
    let off = 0;
    while (off + HEADER <= bytes.length) {
      const len = bytes.readUInt32LE(off);
      const end = off + HEADER + len;
      if (end > bytes.length || crc32(bytes.subarray(off + 8, end)) !== bytes.readUInt32LE(off + 4)) break;
      const kind = bytes.readUInt8(off + 8);
      const body = bytes.subarray(off + HEADER, end);
      if (kind === KIND_ENTRY) {
        const e = entryFromWire(RaftEntry.decode(body));
        const at = this.log.findIndex((x) => x.index >= e.index);
        if (at >= 0) this.log.length = at;
        if (!this.snapshot || e.index > this.snapshot.meta.index) this.log.push(e);
      } else if (kind === KIND_HARD_STATE) {
        const h = RaftHardState.decode(body);
        this.hardState = { term: Number(h.term), vote: h.vote, commit: Number(h.commit) };
      }
      off = end;
    }
    if (off < bytes.length) {
      // a torn write from a crash mid-append: what follows the last whole record was never acknowledged
      this.tornBytes = bytes.length - off;
      const fd = openSync(this.walPath, 'r+');
      try {
        ftruncateSync(fd, off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }
}

function hardToWire(h: HardState): RaftHardState {
  return { term: BigInt(h.term), vote: h.vote, commit: BigInt(h.commit) };
}

function writeAtomically(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
