// SPDX-License-Identifier: Apache-2.0
// Where document bytes live. The contract is automerge-repo's `StorageAdapterInterface` (keys are arrays of
// strings, range queries by key prefix), so any automerge-repo storage adapter can back a Peat store. We ship
// two: in memory, and a filesystem one that writes atomically and keeps no copy of what it wrote in memory.
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Same shape as `StorageAdapterInterface` of `@automerge/automerge-repo`. */
export interface StorageAdapter {
  load(key: string[]): Promise<Uint8Array | undefined>;
  save(key: string[], data: Uint8Array): Promise<void>;
  remove(key: string[]): Promise<void>;
  /** Every value whose key starts with `prefix` (component-wise). */
  loadRange(prefix: string[]): Promise<{ key: string[]; data: Uint8Array | undefined }[]>;
  removeRange(prefix: string[]): Promise<void>;
}

const SEP = '\u0000';

function startsWith(key: readonly string[], prefix: readonly string[]): boolean {
  if (prefix.length > key.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

/** Values in a Map in this process. Copies on the way in and out, so callers cannot alias stored bytes. */
export class MemoryStorage implements StorageAdapter {
  private readonly data = new Map<string, Uint8Array>();

  async load(key: string[]): Promise<Uint8Array | undefined> {
    const v = this.data.get(key.join(SEP));
    return v && v.slice();
  }
  async save(key: string[], data: Uint8Array): Promise<void> {
    this.data.set(key.join(SEP), data.slice());
  }
  async remove(key: string[]): Promise<void> {
    this.data.delete(key.join(SEP));
  }
  async loadRange(prefix: string[]): Promise<{ key: string[]; data: Uint8Array | undefined }[]> {
    const out: { key: string[]; data: Uint8Array | undefined }[] = [];
    for (const [k, v] of this.data) {
      const key = k.split(SEP);
      if (startsWith(key, prefix)) out.push({ key, data: v.slice() });
    }
    return out;
  }
  async removeRange(prefix: string[]): Promise<void> {
    for (const k of [...this.data.keys()]) if (startsWith(k.split(SEP), prefix)) this.data.delete(k);
  }
  /** Total stored bytes (for tests and memory accounting). */
  get bytes(): number {
    let n = 0;
    for (const v of this.data.values()) n += v.length;
    return n;
  }
}

// Each key component becomes one path segment; `%`-encoding keeps '/', '..' and NUL out of the path.
const encodeSegment = (s: string) => (s === '' ? '%' : encodeURIComponent(s).replace(/\./g, '%2E').replace(/\*/g, '%2A'));
const decodeSegment = (s: string) => (s === '%' ? '' : decodeURIComponent(s));
const VALUE_FILE = '%v';

/**
 * One file per key under `dir` (key components are directories, the value is `<path>/%v`). A save writes a
 * temporary file and renames it into place, so a crash leaves the old value or the new one, never half of one.
 * No fsync: survives a process crash, not a power loss.
 */
export class FileStorage implements StorageAdapter {
  private tmpSeq = 0;
  constructor(private readonly dir: string) {}

  private path(key: readonly string[]): string {
    return join(this.dir, ...key.map(encodeSegment));
  }

  async load(key: string[]): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(join(this.path(key), VALUE_FILE)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw e;
    }
  }
  async save(key: string[], data: Uint8Array): Promise<void> {
    const dir = this.path(key);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `%tmp-${process.pid}-${this.tmpSeq++}`);
    await writeFile(tmp, data);
    await rename(tmp, join(dir, VALUE_FILE));
  }
  async remove(key: string[]): Promise<void> {
    await unlink(join(this.path(key), VALUE_FILE)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR') throw e;
    });
  }
  async loadRange(prefix: string[]): Promise<{ key: string[]; data: Uint8Array | undefined }[]> {
    const out: { key: string[]; data: Uint8Array | undefined }[] = [];
    const walk = async (dir: string, key: string[]): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw e;
      }
      for (const entry of entries) {
        if (entry.isDirectory()) await walk(join(dir, entry.name), [...key, decodeSegment(entry.name)]);
        else if (entry.name === VALUE_FILE) out.push({ key, data: new Uint8Array(await readFile(join(dir, entry.name))) });
      }
    };
    await walk(this.path(prefix), [...prefix]);
    return out;
  }
  async removeRange(prefix: string[]): Promise<void> {
    await rm(this.path(prefix), { recursive: true, force: true });
  }
}
