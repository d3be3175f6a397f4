// SPDX-License-Identifier: Apache-2.0
// File helpers with typed errors and durable semantics: whole-file reads, atomic replacement (temp file, fsync,
// rename, fsync of the directory so the rename itself survives a power cut) and moving a damaged tail aside.
// Directory fsyncs go through @ecps/core's shared helper; `AtomicFile` streams (the shared one writes one buffer).
import { open, readFile, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EcpsError } from '@ecps/core';
import { syncDirectory } from '@ecps/core/internal';

const ioError = (what: string, path: string, cause: unknown): EcpsError => {
  const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'IO_ERROR';
  return new EcpsError(code, `cannot ${what} ${path}: ${(cause as Error).message}`, { cause, details: { path } });
};

/** Reads a whole file. Throws `NOT_FOUND` or `IO_ERROR`. */
export async function readBytes(path: string): Promise<Uint8Array> {
  try {
    // a view, not a copy: readFile gives a buffer of its own for any file
    const bytes = await readFile(path);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (cause) {
    throw ioError('read', path, cause);
  }
}

/** Writes are gathered into chunks of about this size (one write per record would cost a syscall each). */
const WRITE_CHUNK = 1024 * 1024;

/**
 * A file that appears at `path` complete or not at all: bytes go to a temporary sibling, and {@link commit}
 * fsyncs it, renames it over `path` and fsyncs the directory. {@link abort} removes the temporary file.
 */
export class AtomicFile {
  private position = 0;
  private done = false;
  private parts: Uint8Array[] = [];
  private buffered = 0;

  private constructor(
    readonly path: string,
    private readonly temp: string,
    private readonly handle: FileHandle,
  ) {}

  /** Starts writing `path`. Throws `IO_ERROR` (e.g. the directory does not exist). */
  static async create(path: string): Promise<AtomicFile> {
    const temp = `${path}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    try {
      return new AtomicFile(path, temp, await open(temp, 'wx'));
    } catch (cause) {
      throw ioError('write', path, cause);
    }
  }

  /** Appends bytes (buffered up to 1 MiB). Throws `IO_ERROR` (the caller should then {@link abort}). */
  async write(bytes: Uint8Array): Promise<void> {
    this.parts.push(bytes);
    this.buffered += bytes.length;
    if (this.buffered >= WRITE_CHUNK) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const chunk = this.parts.length === 1 ? (this.parts[0] as Uint8Array) : Buffer.concat(this.parts);
    this.parts = [];
    this.buffered = 0;
    try {
      let written = 0;
      while (written < chunk.length) {
        const { bytesWritten } = await this.handle.write(chunk, written, chunk.length - written, this.position + written);
        written += bytesWritten;
      }
      this.position += chunk.length;
    } catch (cause) {
      throw ioError('write', this.path, cause);
    }
  }

  /** Makes the file durable under its final name. Throws `IO_ERROR` (the temporary file is then removed). */
  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.flush();
      await this.handle.sync();
      await this.handle.close();
      await rename(this.temp, this.path);
    } catch (cause) {
      await this.handle.close().catch(() => undefined);
      await unlink(this.temp).catch(() => undefined);
      throw ioError('write', this.path, cause);
    }
    await syncDirectory(dirname(this.path));
  }

  /** Drops what was written; `path` is untouched. Never throws. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle.close().catch(() => undefined);
    await unlink(this.temp).catch(() => undefined);
  }
}

/** Writes `bytes` to `path` atomically and durably (see {@link AtomicFile}). Throws `IO_ERROR`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const file = await AtomicFile.create(path);
  try {
    await file.write(bytes);
  } catch (error) {
    await file.abort();
    throw error;
  }
  await file.commit();
}

/** Opens a new file for writing; throws `ALREADY_EXISTS` if it exists (nothing is ever overwritten), `IO_ERROR`. */
async function createExclusive(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'wx');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw new EcpsError('ALREADY_EXISTS', `cannot create ${path}: it exists`, { cause });
    throw ioError('create', path, cause);
  }
}

/** Creates `path` holding `bytes`, durably (fsync of the file and its directory). Throws `ALREADY_EXISTS`, `IO_ERROR`. */
export async function createFileDurable(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await createExclusive(path);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (cause) {
    throw ioError('write', path, cause);
  } finally {
    await handle.close();
  }
  await syncDirectory(dirname(path));
}

const COPY_CHUNK = 1024 * 1024;

/**
 * Moves the bytes of `path` from `offset` to its end into `sideFile` (created; fails if it exists), durably, then
 * truncates `path` at `offset`. Nothing is deleted before its copy is on disk. Returns the number of bytes moved.
 * Throws `ALREADY_EXISTS` for an existing side file, `IO_ERROR`.
 */
export async function moveTailAside(handle: FileHandle, path: string, offset: number, sideFile: string): Promise<number> {
  const side = await createExclusive(sideFile);
  let moved = 0;
  try {
    const { size } = await handle.stat();
    const buffer = new Uint8Array(Math.min(COPY_CHUNK, Math.max(1, size - offset)));
    while (offset + moved < size) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - offset - moved), offset + moved);
      if (bytesRead === 0) break;
      for (let written = 0; written < bytesRead; ) written += (await side.write(buffer, written, bytesRead - written, moved + written)).bytesWritten;
      moved += bytesRead;
    }
    await side.sync();
  } catch (cause) {
    throw ioError('copy the tail of', path, cause);
  } finally {
    await side.close();
  }
  await syncDirectory(dirname(sideFile));
  try {
    await handle.truncate(offset);
    await handle.sync();
  } catch (cause) {
    throw ioError('truncate', path, cause);
  }
  return moved;
}
