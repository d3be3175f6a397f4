// SPDX-License-Identifier: Apache-2.0
// Content-addressed artifact storage (spec §7): a local folder (`<root>/sha256/<hex>`, the default) or any HTTP(S)
// mirror (`GET <base>/<hash>` with a Range header per chunk). Fetching downloads chunk by chunk into
// `<store>/tmp/<random>`, checkpointing how far it got in `<store>/tmp/<hex>.ckpt` so an interrupted fetch (a
// dropped connection, a pause, a restart) resumes there; then it checks the size and the SHA-256 (constant-time)
// and only then renames into place. A mismatch deletes the partial file. Nothing is read into memory whole.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { PeatError } from '@ecps/peat';

/** Which part of a blob to read: from `offset` (default 0), at most `length` bytes (default: to the end). */
export interface BlobRange {
  readonly offset?: number;
  readonly length?: number;
  readonly signal?: AbortSignal;
}

/** Where artifacts come from. `get` yields the blob's bytes of `range`. */
export interface BlobStore {
  get(hash: string, range?: BlobRange): AsyncIterable<Uint8Array>;
  has(hash: string): Promise<boolean>;
}

/** Chunk size and checkpoint interval of a transfer. */
export interface TransferProfile {
  readonly chunkBytes: number;
  readonly checkpointMs: number;
}

/** The specification's transfer profiles by network class. */
export const TRANSFER_PROFILES = {
  datacenter: { chunkBytes: 1024 * 1024, checkpointMs: 60_000 },
  tactical: { chunkBytes: 256 * 1024, checkpointMs: 30_000 },
  edge: { chunkBytes: 64 * 1024, checkpointMs: 10_000 },
} as const satisfies Record<string, TransferProfile>;

const hexOf = (hash: string): string => {
  const m = /^(?:sha256:)?([0-9a-f]{64})$/.exec(hash);
  if (!m) throw new PeatError('INVALID_ARGUMENT', `not a sha256 content address: ${hash}`);
  return m[1]!;
};

/** Blobs in a folder: `<root>/sha256/<hex>`; downloads land in `<root>/tmp`. */
export class FolderBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  /** Path of a stored blob. @throws PeatError `INVALID_ARGUMENT` for a hash that is not `sha256:<64 hex>` or 64 hex. */
  pathOf(hash: string): string {
    return join(this.root, 'sha256', hexOf(hash));
  }

  async has(hash: string): Promise<boolean> {
    return stat(this.pathOf(hash)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async *get(hash: string, range: BlobRange = {}): AsyncIterable<Uint8Array> {
    if (!(await this.has(hash))) throw new PeatError('NOT_FOUND', `blob ${hash} is not in ${this.root}`);
    const start = range.offset ?? 0;
    if (range.length === 0) return;
    yield* createReadStream(this.pathOf(hash), { start, ...(range.length !== undefined ? { end: start + range.length - 1 } : {}) }) as AsyncIterable<Uint8Array>;
  }

  /** Stores `bytes` under their SHA-256; returns `sha256:<hex>`. */
  async put(bytes: Uint8Array): Promise<string> {
    const hex = createHash('sha256').update(bytes).digest('hex');
    const tmp = await this.tempPath();
    await new Promise<void>((resolve, reject) => {
      const w = createWriteStream(tmp);
      w.on('error', reject);
      w.end(Buffer.from(bytes), () => resolve());
    });
    await mkdir(join(this.root, 'sha256'), { recursive: true });
    await rename(tmp, join(this.root, 'sha256', hex));
    return `sha256:${hex}`;
  }

  /** A fresh `<root>/tmp/<random>` path. */
  async tempPath(): Promise<string> {
    return join(this.tmpDir(), await this.tempName());
  }

  /** A fresh random file name in {@link tmpDir} (which it creates). */
  async tempName(): Promise<string> {
    await mkdir(this.tmpDir(), { recursive: true });
    return randomBytes(12).toString('hex');
  }

  /** `<root>/tmp`, where downloads and their checkpoints live. */
  tmpDir(): string {
    return join(this.root, 'tmp');
  }
}

/** Blobs on an HTTP(S) server: `GET <baseUrl>/<hash>`, a part of it with `Range: bytes=<first>-<last>`. */
export class HttpBlobStore implements BlobStore {
  constructor(
    private readonly baseUrl: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  private url(hash: string): string {
    return `${this.baseUrl.replace(/\/$/, '')}/${encodeURIComponent(hash)}`;
  }

  async has(hash: string): Promise<boolean> {
    const r = await this.fetchFn(this.url(hash), { method: 'HEAD' });
    return r.ok;
  }

  async *get(hash: string, range: BlobRange = {}): AsyncIterable<Uint8Array> {
    const offset = range.offset ?? 0;
    if (range.length === 0) return;
    const ranged = offset > 0 || range.length !== undefined;
    const init: RequestInit = { headers: ranged ? { range: `bytes=${offset}-${range.length !== undefined ? offset + range.length - 1 : ''}` } : {} };
    if (range.signal) init.signal = range.signal;
    const r = await this.fetchFn(this.url(hash), init).catch((e: unknown) => {
      throw new PeatError(range.signal?.aborted ? 'CANCELLED' : 'UNAVAILABLE', `blob ${hash}: ${String(e)}`, { cause: e });
    });
    if (r.status === 404) throw new PeatError('NOT_FOUND', `blob ${hash}: 404 from the mirror`);
    if (!r.ok || !r.body) throw new PeatError('UNAVAILABLE', `blob ${hash}: HTTP ${r.status}`);
    // a whole body in answer to a range from 0 is fine (the reader stops at `length`); from elsewhere it is not
    if (offset > 0 && r.status !== 206) throw new PeatError('UNAVAILABLE', `blob ${hash}: the mirror ignored the range request`);
    try {
      yield* Readable.fromWeb(r.body as WebReadableStream<Uint8Array>) as AsyncIterable<Uint8Array>;
    } catch (e) {
      throw new PeatError(range.signal?.aborted ? 'CANCELLED' : 'UNAVAILABLE', `blob ${hash}: the transfer broke off (${String(e)})`, { cause: e });
    }
  }
}

export interface FetchOptions {
  /** Called with the bytes received so far. */
  readonly onProgress?: (received: number) => void;
  /** Aborts the download (the partial file and its checkpoint stay, for the next fetch to resume). */
  readonly signal?: AbortSignal;
  /** Chunk size and checkpoint interval. Default {@link TRANSFER_PROFILES}.tactical. */
  readonly transfer?: TransferProfile;
  /** Time source for the checkpoint interval (ms). Default `Date.now`. */
  readonly now?: () => number;
}

interface Checkpoint {
  readonly file: string;
  readonly offset: number;
}

/** Where a previous fetch of `hex` stopped, if it left a checkpoint and its partial file. */
async function resumePoint(local: FolderBlobStore, hex: string): Promise<Checkpoint | undefined> {
  try {
    const c = JSON.parse(await readFile(join(local.root, 'tmp', `${hex}.ckpt`), 'utf8')) as Checkpoint;
    if (typeof c.file !== 'string' || !/^[0-9a-f]{24}$/.test(c.file) || !Number.isSafeInteger(c.offset) || c.offset < 0) return undefined;
    const s = await stat(join(local.root, 'tmp', c.file));
    return s.size >= c.offset ? c : undefined;
  } catch {
    return undefined;
  }
}

async function hashPrefix(path: string, bytes: number, sha: Hash): Promise<void> {
  if (bytes === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 }) as AsyncIterable<Uint8Array>) sha.update(chunk);
}

/**
 * Copies `hash` from `source` into `local` chunk by chunk (`transfer.chunkBytes` per request), verifying size then
 * SHA-256 before it appears under `sha256/` (only `sizeBytes` are ever read: a longer blob fails its hash). Every `transfer.checkpointMs`, and whenever the transfer stops short,
 * the partial file is synced and its length recorded; the next fetch of the same blob re-hashes that prefix and
 * asks only for the rest. Returns the stored path (at once if already present).
 * @throws PeatError `CHECKSUM_MISMATCH` ("hash mismatch") or `INVALID_ARGUMENT` (a bad chunk size), after which
 * the partial file and checkpoint are removed; `CANCELLED` when aborted, `UNAVAILABLE` when the source broke off or
 * ran out before `sizeBytes`, or whatever `source` throws, after which they are kept for the next fetch.
 */
export async function fetchBlob(source: BlobStore, local: FolderBlobStore, hash: string, expectedHex: string, sizeBytes: number, options: FetchOptions = {}): Promise<string> {
  if (await local.has(`sha256:${expectedHex}`)) return local.pathOf(`sha256:${expectedHex}`);
  const { chunkBytes, checkpointMs } = options.transfer ?? TRANSFER_PROFILES.tactical;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) throw new PeatError('INVALID_ARGUMENT', `chunk size ${chunkBytes} is not a positive integer`);
  const now = options.now ?? Date.now;
  const ckptPath = join(local.tmpDir(), `${expectedHex}.ckpt`);
  const resumed = await resumePoint(local, expectedHex);
  const file = resumed?.file ?? (await local.tempName());
  const tmp = join(local.tmpDir(), file);
  const sha = createHash('sha256');
  let received = resumed?.offset ?? 0;
  if (resumed) {
    await truncate(tmp, received); // bytes after the checkpoint were never vouched for
    await hashPrefix(tmp, received, sha);
  }
  const out = await open(tmp, resumed ? 'r+' : 'w');
  let lastCheckpoint = now();
  const checkpoint = async () => {
    await out.sync();
    await writeFile(ckptPath, JSON.stringify({ file, offset: received } satisfies Checkpoint));
    lastCheckpoint = now();
  };
  let verified = false;
  try {
    while (received < sizeBytes) {
      if (options.signal?.aborted) throw new PeatError('CANCELLED', 'download aborted');
      const want = Math.min(chunkBytes, sizeBytes - received);
      let got = 0;
      for await (const piece of source.get(hash, { offset: received, length: want, ...(options.signal ? { signal: options.signal } : {}) })) {
        if (options.signal?.aborted) throw new PeatError('CANCELLED', 'download aborted');
        const part = piece.length > want - got ? piece.subarray(0, want - got) : piece; // a source that ignores `length`
        sha.update(part);
        await out.write(part, 0, part.length, received);
        received += part.length;
        got += part.length;
        options.onProgress?.(received);
        if (got === want) break;
      }
      if (got === 0) throw new PeatError('UNAVAILABLE', `blob ${hash}: the source has nothing from byte ${received}`);
      if (now() - lastCheckpoint >= checkpointMs) await checkpoint();
    }
    await out.close();
    const got = sha.digest();
    const want = Buffer.from(expectedHex, 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw new PeatError('CHECKSUM_MISMATCH', 'hash mismatch');
    verified = true;
    await mkdir(join(local.root, 'sha256'), { recursive: true });
    const dest = join(local.root, 'sha256', expectedHex);
    await rename(tmp, dest);
    await rm(ckptPath, { force: true });
    return dest;
  } catch (e) {
    const corrupt = e instanceof PeatError && (e.code === 'CHECKSUM_MISMATCH' || e.code === 'INVALID_ARGUMENT');
    const resumable = !verified && !corrupt;
    if (resumable && received > 0) {
      await checkpoint().catch(() => undefined);
      await out.close().catch(() => undefined);
    } else {
      await out.close().catch(() => undefined);
      await rm(tmp, { force: true });
      await rm(ckptPath, { force: true });
    }
    throw e;
  }
}
