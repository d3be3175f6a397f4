// SPDX-License-Identifier: Apache-2.0
// The file write-ahead log: segment files of CRC-framed protobuf records (entries, hard states, snapshot marks) and
// snapshot files written atomically. Appends go to the page cache at once; durability comes from a group commit
// (one fdatasync for everything appended while the previous one ran) off the event loop. Each record's CRC chains
// over every record before it, across segments (as etcd's WAL does), so recovery stops at the first record that is
// torn, missing or out of place, wherever the file system lost unsynced data.
// With fsync on, segments are filled with zeros before use and then overwritten in place (as etcd preallocates its
// segments): a sync changes no file size, so fdatasync writes the data and commits no metadata. The next segment is
// prepared in the background while the current one fills, so a commit never creates a file or syncs the directory.
// The zeros after the last record are the end of the log, as is a torn record, which recovery zeroes.
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EcpsError } from '@ecps/core';
import { RaftEntry, RaftHardState, RaftSnapshot, RaftSnapshotMeta } from '@ecps/proto/ext/v1';
import { nodeDisk } from './disk';
import type { Disk, DiskFile } from './disk';
import { entryFromWire, entryToWire, snapshotFromWire, snapshotToWire } from './message-codec';
import type { PersistBatch, PersistedState, RaftStorage } from './storage';
import type { Entry, HardState, Snapshot } from './types';

/**
 * `always`: a save that changed the log, term or vote resolves only once it is fdatasynced (group commit: saves made
 * while a sync runs share the next one); safe against power loss. `never`: leave flushing to the OS; survives a
 * process crash (kill -9) but not a machine crash, where it may break Raft's safety.
 */
export type FsyncPolicy = 'always' | 'never';

export interface FileStorageOptions {
  /** Directory holding the `wal-*.log` segments and `snap-*.bin` snapshots (created if missing). */
  readonly dir: string;
  readonly fsync?: FsyncPolicy;
  /** The file system (default: the real one). Tests pass a simulated disk to check what survives a crash. */
  readonly disk?: Disk;
  /**
   * Size of a preallocated segment (default 8 MiB). A batch larger than a segment extends it. Only with fsync
   * `always`: without syncs there is no metadata commit to avoid, and segments grow as they are written.
   */
  readonly segmentBytes?: number;
}

const KIND_ENTRY = 1;
const KIND_HARD_STATE = 2;
/** The log was replaced by the snapshot at this index: earlier records are void. */
const KIND_SNAPSHOT_MARK = 3;
/** First record of every segment: the CRC the chain continues from (u32 LE). */
const KIND_CHAIN = 4;
const HEADER = 9; // u32 length of body, u32 crc32 of kind + body (seeded with the previous record's), u8 kind
const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;

type Record = readonly [kind: number, body: Uint8Array];

/** Frames `records` into one buffer, each CRC continuing the chain from the previous; returns it and the last CRC. */
function frameAll(records: readonly Record[], seed: number): { bytes: Uint8Array; crc: number } {
  let size = 0;
  for (const [, body] of records) size += HEADER + body.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  let crc = seed;
  for (const [kind, body] of records) {
    view.setUint32(at, body.length, true);
    out[at + 8] = kind;
    out.set(body, at + HEADER);
    crc = crc32(out.subarray(at + 8, at + HEADER + body.length), crc);
    view.setUint32(at + 4, crc, true);
    at += HEADER + body.length;
  }
  return { bytes: out, crc };
}

/** A record whose CRC continues the chain from `seed`. */
const frame = (kind: number, body: Uint8Array, seed = 0): Uint8Array => frameAll([[kind, body]], seed).bytes;

/** One past the last non-zero byte of `bytes` at or after `from` (`from` when there is none). */
function nonZeroEnd(bytes: Uint8Array, from: number): number {
  let end = bytes.length;
  while (end > from && bytes[end - 1] === 0) end--;
  return end;
}

function chainBody(crc: number): Uint8Array {
  const body = new Uint8Array(4);
  new DataView(body.buffer).setUint32(0, crc, true);
  return body;
}

const hex16 = (n: number) => n.toString(16).padStart(16, '0');
const segmentName = (seq: number) => `wal-${hex16(seq)}.log`;
const snapshotName = (index: number) => `snap-${hex16(index)}.bin`;
const SEGMENT = /^wal-([0-9a-f]{16})\.log$/;
const SNAPSHOT = /^snap-([0-9a-f]{16})\.bin$/;

interface Segment {
  readonly seq: number;
  readonly path: string;
  /** The highest entry or snapshot-mark index recorded in it (0 = none). */
  maxIndex: number;
  /** Where its records end (recovery). */
  end?: number;
}

function hardToWire(h: HardState): RaftHardState {
  return { term: BigInt(h.term), vote: h.vote, commit: BigInt(h.commit) };
}

/** A durable {@link RaftStorage} on a file system. Not for use by two processes at once. */
export class FileStorage implements RaftStorage {
  private readonly dir: string;
  private readonly disk: Disk;
  private readonly fsync: FsyncPolicy;
  /** Preallocated segment size; 0 = segments grow as written (fsync `never`). */
  private readonly segmentBytes: number;
  private segments: Segment[] = [];
  private file!: DiskFile;
  /** Where the next record goes in the current segment. */
  private offset = 0;
  /** The next segment, being filled with zeros in the background; `ready` once it is durable. */
  private spare: { seq: number; path: string; ready: boolean; done: Promise<void> } | undefined;
  /** Files written to since the last sync started. */
  private dirty = new Set<DiskFile>();
  /** Earlier segments still open: closed once their last sync is done. */
  private readonly retired = new Set<DiskFile>();
  /** Directory entries changed since the last sync started. */
  private dirDirty = false;
  private hardState: HardState | undefined;
  private recovered: PersistedState | undefined;
  private syncRunning: Promise<void> = Promise.resolve();
  private syncQueued: Promise<void> | undefined;
  /** Resolves when every earlier save is durable: saves are acknowledged in order. */
  private lastAck: Promise<void> = Promise.resolve();
  private failure: unknown;
  private closed = false;
  /** The CRC of the last record written: the next one chains from it. */
  private crc = 0;
  /** Non-zero bytes cut off as a torn or broken tail during recovery (for diagnostics and tests). */
  tornBytes = 0;

  /** @throws EcpsError `IO_ERROR` when the directory cannot be used; `LOG_CORRUPT` when the newest snapshot is unreadable. */
  constructor(options: FileStorageOptions) {
    this.dir = options.dir;
    this.disk = options.disk ?? nodeDisk;
    this.fsync = options.fsync ?? 'always';
    this.segmentBytes = this.fsync === 'always' ? (options.segmentBytes ?? DEFAULT_SEGMENT_BYTES) : 0;
    try {
      this.disk.mkdirp(this.dir);
      let zeroFrom = 0;
      let zeroTo = 0;
      let length = 0;
      this.recovered = this.recover((from, to, size) => {
        zeroFrom = from;
        zeroTo = to;
        length = size;
      });
      const last = this.segments.at(-1);
      if (last) {
        this.file = this.disk.open(last.path);
        this.offset = last.end ?? 0;
        // a cut tail is zeroed, durably before anything written after it counts
        if (zeroTo > zeroFrom) this.writeZeros(zeroFrom, zeroTo);
      } else {
        this.segments.push({ seq: 1, path: join(this.dir, segmentName(1)), maxIndex: 0 });
        this.file = this.disk.open(join(this.dir, segmentName(1)));
        this.dirDirty = true;
      }
      // a new or legacy segment is filled up once, here, and synced at once, before any commit waits for it
      if (length < this.segmentBytes) this.writeZeros(length, this.segmentBytes);
      if (this.offset === 0) this.startSegment();
      if (this.dirty.size > 0 || this.dirDirty) this.requestSync(true).catch((cause: unknown) => this.fail(cause));
    } catch (cause) {
      if (cause instanceof EcpsError) throw cause;
      throw new EcpsError('IO_ERROR', `cannot open the log in ${this.dir}`, { cause });
    }
  }

  load(): PersistedState {
    const state = this.recovered ?? { entries: [] };
    this.recovered = undefined; // the node holds the log from here on
    return state;
  }

  save(batch: PersistBatch, sync: boolean): Promise<void> {
    if (this.failure !== undefined || this.closed) return Promise.reject(this.failedError());
    let snapshotWritten: Promise<void> | undefined;
    const records: Record[] = [];
    let bytes = 0;
    const add = (kind: number, body: Uint8Array) => {
      records.push([kind, body]);
      bytes += HEADER + body.length;
    };
    const meta = batch.snapshot?.meta;
    if (batch.snapshot) {
      // the snapshot file must be durable before the mark counts; recovery stops at a mark without its snapshot
      snapshotWritten = this.writeSnapshot(batch.snapshot);
      add(KIND_SNAPSHOT_MARK, RaftSnapshotMeta.encode({ index: BigInt(batch.snapshot.meta.index), term: BigInt(batch.snapshot.meta.term), confState: undefined }).finish());
    }
    for (const e of batch.entries) add(KIND_ENTRY, RaftEntry.encode(entryToWire(e)).finish());
    if (batch.hardState) add(KIND_HARD_STATE, RaftHardState.encode(hardToWire(batch.hardState)).finish());
    if (records.length > 0) {
      try {
        this.rollIfFull(bytes);
        if (batch.hardState) this.hardState = batch.hardState;
        const seg = this.segments.at(-1) as Segment;
        seg.maxIndex = Math.max(seg.maxIndex, meta?.index ?? 0, batch.entries.at(-1)?.index ?? 0);
        this.write(records);
      } catch (cause) {
        this.fail(cause);
        return Promise.reject(this.failedError());
      }
    }
    if (!sync && !snapshotWritten) return this.failure === undefined ? Promise.resolve() : Promise.reject(this.failedError());
    const durable = this.fsync === 'always' || this.dirDirty ? this.requestSync() : Promise.resolve();
    const ack = Promise.all([this.lastAck, durable, snapshotWritten]).then(() => undefined);
    this.lastAck = ack;
    return ack.catch((cause: unknown) => {
      this.fail(cause);
      throw this.failedError();
    });
  }

  /**
   * Stores a snapshot the node took itself, then drops the full segments and the snapshots it covers. Resolves
   * once done; the log keeps everything until the snapshot is durable.
   */
  async compact(snapshot: Snapshot): Promise<void> {
    if (this.failure !== undefined || this.closed) throw this.failedError();
    try {
      await this.writeSnapshot(snapshot);
      if (this.closed) return;
      // the newest segment starts with the hard state: durable before the older segments go
      await this.requestSync(true);
      const index = snapshot.meta.index;
      // only a prefix of the segments goes, oldest first: the CRC chain runs through the rest, and a removal that a
      // crash undoes (unsynced; directory changes are journaled in order) leaves a prefix that still chains
      let drop = 0;
      while (drop < this.segments.length - 1 && (this.segments[drop] as Segment).maxIndex <= index) drop++;
      for (const s of this.segments.splice(0, drop)) this.disk.remove(s.path);
      for (const name of this.disk.list(this.dir)) {
        const m = SNAPSHOT.exec(name);
        if (m && parseInt(m[1] as string, 16) < index) this.disk.remove(join(this.dir, name));
      }
    } catch (cause) {
      this.fail(cause);
      throw this.failedError();
    }
  }

  /** Waits for pending syncs and the segment being prepared, then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.syncRunning.catch(() => undefined);
    await this.syncQueued?.catch(() => undefined);
    await this.spare?.done;
    for (const f of new Set([this.file, ...this.dirty, ...this.retired])) {
      try {
        f.close();
      } catch {
        // already closed
      }
    }
  }

  /** One sync for everything written so far: joins the queued sync if one waits, else queues one. */
  private requestSync(force = false): Promise<void> {
    if (this.syncQueued) return this.syncQueued;
    const run = async () => {
      this.syncQueued = undefined;
      const files = [...this.dirty];
      this.dirty.clear();
      const dirDirty = this.dirDirty;
      this.dirDirty = false;
      // directory first: a segment dropped at recovery must be gone for good before records after it count
      if (dirDirty) await this.disk.syncDir(this.dir);
      if (this.fsync === 'always' || force) await Promise.all(files.map((f) => f.sync()));
      // retired segments are done once synced (a sync of theirs may run until here)
      for (const f of this.retired) {
        if (this.dirty.has(f)) continue;
        f.close();
        this.retired.delete(f);
      }
    };
    const queued = this.syncRunning.then(run);
    this.syncQueued = queued;
    this.syncRunning = queued.catch(() => undefined);
    return queued;
  }

  /** Writes chained records at the current offset (not durable yet). */
  private write(records: readonly Record[]): void {
    const { bytes, crc } = frameAll(records, this.crc);
    this.file.write(bytes, this.offset);
    this.crc = crc;
    this.offset += bytes.length;
    this.dirty.add(this.file);
    if (this.segmentBytes > 0 && this.offset > this.segmentBytes / 2) this.prepareSpare();
  }

  private writeZeros(from: number, to: number): void {
    const chunk = new Uint8Array(Math.min(to - from, 1024 * 1024));
    for (let at = from; at < to; at += chunk.length) this.file.write(to - at < chunk.length ? chunk.subarray(0, to - at) : chunk, at);
    this.dirty.add(this.file);
  }

  /** A segment begins with the chain's CRC so far, then the hard state (so older segments can be dropped). */
  private startSegment(): void {
    const records: Record[] = [[KIND_CHAIN, chainBody(this.crc)]];
    if (this.hardState) records.push([KIND_HARD_STATE, RaftHardState.encode(hardToWire(this.hardState)).finish()]);
    this.write(records);
  }

  /**
   * Moves to the prepared segment when `bytes` more do not fit the current one. Without a prepared segment the
   * current one grows past its size (syncs then commit its new size) rather than create a file on the way.
   */
  private rollIfFull(bytes: number): void {
    if (this.segmentBytes === 0 || this.offset + bytes <= this.segmentBytes) return;
    const spare = this.spare;
    if (!spare?.ready) return this.prepareSpare();
    this.spare = undefined;
    this.retired.add(this.file);
    this.file = this.disk.open(spare.path);
    this.segments.push({ seq: spare.seq, path: spare.path, maxIndex: 0 });
    this.offset = 0;
    this.startSegment();
  }

  /** Fills the next segment with zeros in the background (its directory entry durable too). */
  private prepareSpare(): void {
    if (this.spare || this.closed || this.failure !== undefined) return;
    const seq = (this.segments.at(-1) as Segment).seq + 1;
    const path = join(this.dir, segmentName(seq));
    const spare = { seq, path, ready: false, done: Promise.resolve() };
    spare.done = this.disk.preallocate(path, this.segmentBytes).then(
      () => {
        spare.ready = true;
      },
      () => {
        // retried at the next roll; meanwhile the current segment grows
        if (this.spare === spare) this.spare = undefined;
      },
    );
    this.spare = spare;
  }

  /** Writes `snapshot` to its own file atomically (temporary file, sync, rename, directory sync). */
  private async writeSnapshot(snapshot: Snapshot): Promise<void> {
    const path = join(this.dir, snapshotName(snapshot.meta.index));
    const tmp = `${path}.tmp`;
    await this.disk.writeDurably(tmp, frame(0, RaftSnapshot.encode(snapshotToWire(snapshot)).finish()));
    this.disk.rename(tmp, path);
    await this.disk.syncDir(this.dir);
  }

  private fail(cause: unknown): void {
    if (this.failure === undefined) this.failure = cause;
  }

  private failedError(): EcpsError {
    if (this.closed && this.failure === undefined) return new EcpsError('CLOSED', `the log in ${this.dir} is closed`);
    return new EcpsError('IO_ERROR', `the log in ${this.dir} failed; its durable state is unknown`, { cause: this.failure });
  }

  /**
   * Reads the log back. The last segment kept is where writing resumes: `lastSegment` is told the range of it to
   * zero (a torn tail) and its size.
   */
  private recover(lastSegment: (zeroFrom: number, zeroTo: number, size: number) => void): PersistedState {
    const names = this.disk.list(this.dir);
    for (const name of names) if (name.endsWith('.tmp')) this.disk.remove(join(this.dir, name));
    let snapshot: Snapshot | undefined;
    const snapshots = names.filter((n) => SNAPSHOT.test(n)).sort();
    const newest = snapshots.at(-1);
    if (newest) {
      const path = join(this.dir, newest);
      const bytes = this.disk.read(path) ?? new Uint8Array(0);
      const rec = readRecord(bytes, 0);
      if (!rec || rec.end !== bytes.length) throw new EcpsError('LOG_CORRUPT', `${path} fails its checksum`);
      snapshot = snapshotFromWire(RaftSnapshot.decode(rec.body));
    }
    const segs = names
      .map((n) => SEGMENT.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m): Segment => ({ seq: parseInt(m[1] as string, 16), path: join(this.dir, m[0]), maxIndex: 0 }))
      .sort((a, b) => a.seq - b.seq);
    let log: Entry[] = [];
    let cut = false;
    let crc: number | undefined;
    for (const seg of segs) {
      const bytes = this.disk.read(seg.path) ?? new Uint8Array(0);
      // a later segment holding only zeros was being prepared: it ends the log, like a segment after a break in the
      // chain, whose records were never acknowledged (syncs complete in order); only the latter's removal must be
      // durable before records written after the break count
      if (cut || (this.segments.length > 0 && nonZeroEnd(bytes, 0) === 0)) {
        const garbage = nonZeroEnd(bytes, 0);
        this.tornBytes += garbage;
        if (garbage > 0) this.dirDirty = true;
        this.disk.remove(seg.path);
        cut = true;
        continue;
      }
      this.segments.push(seg);
      let off = 0;
      while (off < bytes.length) {
        const rec = readRecord(bytes, off, crc);
        // a torn record, zeros, or one that does not continue the chain (a segment that lost data before it)
        if (!rec || rec.kind < KIND_ENTRY || rec.kind > KIND_CHAIN || (off === 0) !== (rec.kind === KIND_CHAIN)) break;
        if (rec.kind === KIND_ENTRY) {
          const e = entryFromWire(RaftEntry.decode(rec.body));
          const at = log.findIndex((x) => x.index >= e.index);
          if (at >= 0) log.length = at;
          log.push(e);
          seg.maxIndex = Math.max(seg.maxIndex, e.index);
        } else if (rec.kind === KIND_HARD_STATE) {
          const h = RaftHardState.decode(rec.body);
          this.hardState = { term: Number(h.term), vote: h.vote, commit: Number(h.commit) };
        } else if (rec.kind === KIND_SNAPSHOT_MARK) {
          const index = Number(RaftSnapshotMeta.decode(rec.body).index);
          if (!snapshot || snapshot.meta.index < index) break; // its snapshot never became durable: the end of the log
          log = [];
          seg.maxIndex = Math.max(seg.maxIndex, index);
        }
        crc = rec.crc;
        off = rec.end;
      }
      seg.end = off;
      // zeros after the last record are the unused rest of a preallocated segment; anything else is a torn tail
      const torn = nonZeroEnd(bytes, off);
      this.tornBytes += torn - off;
      // the log goes on in the next segment only if this one ends cleanly and holds records
      if (torn > off || off === 0) cut = true;
      lastSegment(off, torn, bytes.length);
    }
    this.crc = crc ?? 0;
    if (snapshot) log = log.filter((e) => e.index > (snapshot as Snapshot).meta.index);
    const first = log[0];
    const base = snapshot?.meta.index ?? 0;
    if (first && first.index !== base + 1 && !(base === 0 && first.index === 1)) {
      throw new EcpsError('LOG_CORRUPT', `the log in ${this.dir} starts at ${first.index}, after a snapshot at ${base}`);
    }
    for (let i = 1; i < log.length; i++) {
      if ((log[i] as Entry).index !== (log[i - 1] as Entry).index + 1) throw new EcpsError('LOG_CORRUPT', `the log in ${this.dir} has a gap`);
    }
    return { ...(this.hardState ? { hardState: this.hardState } : {}), ...(snapshot ? { snapshot } : {}), entries: log };
  }
}

/**
 * The record at `off` whose CRC continues the chain from `seed` (a chain record carries its own seed, which must be
 * `seed` when one is given), or undefined when it is torn, corrupt or out of place.
 */
function readRecord(bytes: Uint8Array, off: number, seed?: number): { kind: number; body: Uint8Array; end: number; crc: number } | undefined {
  if (off + HEADER > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = view.getUint32(off, true);
  const end = off + HEADER + len;
  if (end > bytes.length) return undefined;
  const kind = bytes[off + 8] as number;
  const body = bytes.subarray(off + HEADER, end);
  let from = seed ?? 0;
  if (kind === KIND_CHAIN) {
    if (body.length !== 4) return undefined;
    const carried = new DataView(body.buffer, body.byteOffset, 4).getUint32(0, true);
    if (seed !== undefined && carried !== seed) return undefined;
    from = carried;
  }
  const crc = view.getUint32(off + 4, true);
  if (crc32(bytes.subarray(off + 8, end), from) !== crc) return undefined;
  return { kind, body, end, crc };
}
