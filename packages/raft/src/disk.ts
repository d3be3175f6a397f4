// SPDX-License-Identifier: Apache-2.0
// The file operations the write-ahead log needs, and their implementation on the real file system. Writes go to the
// page cache synchronously (fast); only the syncs that make them durable are asynchronous, on libuv's thread pool,
// so an fsync never blocks the event loop. Writes are positional: the log overwrites segments filled with zeros
// beforehand, so a sync changes no file size and fdatasync has no metadata to commit. Tests run the same WAL code
// over a simulated disk that keeps only what was synced.
import {
  closeSync,
  constants,
  existsSync,
  fdatasync,
  fsync,
  mkdirSync,
  open,
  close,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { writeFile } from 'node:fs/promises';

/** A file open for writing in place. */
export interface DiskFile {
  /** Writes `data` at byte `position`, extending the file if needed (not yet durable). */
  write(data: Uint8Array, position: number): void;
  /** Makes everything appended so far durable (fdatasync). */
  sync(): Promise<void>;
  close(): void;
}

/**
 * A directory of files. Creations, renames and removals are durable only after {@link Disk.syncDir}, file contents
 * only after a sync of the file.
 * @throws Error (a Node.js system error) from any operation that fails; the storage turns it into `IO_ERROR`.
 */
export interface Disk {
  mkdirp(dir: string): void;
  /** File names in `dir` (empty when it does not exist). */
  list(dir: string): string[];
  /** The whole file, or undefined when it does not exist. */
  read(path: string): Uint8Array | undefined;
  /** Opens `path` for writing in place, creating it when missing. */
  open(path: string): DiskFile;
  /**
   * Creates (or replaces) `path` holding `bytes` zero bytes, with its contents, size and directory entry durable: a
   * log segment whose later writes and syncs change no metadata.
   */
  preallocate(path: string, bytes: number): Promise<void>;
  /** Creates or replaces `path` with `data` and makes the contents durable (not the directory entry). */
  writeDurably(path: string, data: Uint8Array): Promise<void>;
  rename(from: string, to: string): void;
  remove(path: string): void;
  /** Makes the directory's entries durable (fsync of the directory). */
  syncDir(dir: string): Promise<void>;
}

function promised(fn: (done: (error: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => fn((error) => (error ? reject(error) : resolve())));
}

/** The real file system. */
export const nodeDisk: Disk = {
  mkdirp(dir) {
    mkdirSync(dir, { recursive: true });
  },
  list(dir) {
    return existsSync(dir) ? readdirSync(dir) : [];
  },
  read(path) {
    return existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
  },
  open(path) {
    // not O_APPEND: Linux ignores the position of writes to a file opened for appending
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    let closed = false;
    return {
      write(data, position) {
        let at = 0;
        while (at < data.length) at += writeSync(fd, data, at, data.length - at, position + at);
      },
      sync: () => promised((done) => fdatasync(fd, done)),
      close() {
        if (closed) return;
        closed = true;
        closeSync(fd);
      },
    };
  },
  async preallocate(path, bytes) {
    // real zeros rather than fallocate: the blocks are written once, so overwriting them later converts no extent
    await writeFile(path, new Uint8Array(bytes));
    await syncPath(path, 'r');
    await syncPath(dirname(path), 'r');
  },
  async writeDurably(path, data) {
    // a snapshot can be large: write it off the event loop too
    await writeFile(path, data);
    await syncPath(path, 'r');
  },
  rename(from, to) {
    renameSync(from, to);
  },
  remove(path) {
    rmSync(path, { force: true });
  },
  syncDir: (dir) => syncPath(dir, 'r'),
};

/** fsync of a path (a file, or a directory opened read-only), without blocking the event loop. */
async function syncPath(path: string, flags: string): Promise<void> {
  const fd = await new Promise<number>((resolve, reject) => open(path, flags, (error, fd) => (error ? reject(error) : resolve(fd))));
  try {
    await promised((done) => fsync(fd, done));
  } finally {
    await promised((done) => close(fd, done));
  }
}
