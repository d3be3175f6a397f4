// SPDX-License-Identifier: Apache-2.0
// Content-addressed artifact storage (spec §7): a local folder (`<root>/sha256/<hex>`, the default) or any HTTP(S)
// mirror (`GET <base>/<hash>` with a Range header to resume). Fetching downloads into `<store>/tmp/<random>`,
// checks the size and the SHA-256 (constant-time), and only then renames into place; a mismatch deletes the
// partial file. Nothing is read into memory whole.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { PeatError } from '@ecps/peat';

/** Where artifacts come from. `get` yields the blob's bytes from `offset`. */
export interface BlobStore {
  get(hash: string, options?: { readonly offset?: number; readonly signal?: AbortSignal }): AsyncIterable<Uint8Array>;
  has(hash: string): Promise<boolean>;
}

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

  async *get(hash: string, options: { readonly offset?: number } = {}): AsyncIterable<Uint8Array> {
    if (!(await this.has(hash))) throw new PeatError('NOT_FOUND', `blob ${hash} is not in ${this.root}`);
    yield* createReadStream(this.pathOf(hash), { start: options.offset ?? 0 }) as AsyncIterable<Uint8Array>;
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
    await mkdir(join(this.root, 'tmp'), { recursive: true });
    return join(this.root, 'tmp', randomBytes(12).toString('hex'));
  }
}

/** Blobs on an HTTP(S) server: `GET <baseUrl>/<hash>`, resumed with `Range: bytes=<offset>-`. */
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

  async *get(hash: string, options: { readonly offset?: number; readonly signal?: AbortSignal } = {}): AsyncIterable<Uint8Array> {
    const offset = options.offset ?? 0;
    const init: RequestInit = { headers: offset > 0 ? { range: `bytes=${offset}-` } : {} };
    if (options.signal) init.signal = options.signal;
    const r = await this.fetchFn(this.url(hash), init);
    if (r.status === 404) throw new PeatError('NOT_FOUND', `blob ${hash}: 404 from the mirror`);
    if (!r.ok || !r.body) throw new PeatError('UNAVAILABLE', `blob ${hash}: HTTP ${r.status}`);
    if (offset > 0 && r.status !== 206) throw new PeatError('UNAVAILABLE', `blob ${hash}: the mirror ignored the range request`);
    yield* Readable.fromWeb(r.body as WebReadableStream<Uint8Array>) as AsyncIterable<Uint8Array>;
  }
}

export interface FetchOptions {
  /** Called with the bytes received so far. */
  readonly onProgress?: (received: number) => void;
  /** Aborts the download. */
  readonly signal?: AbortSignal;
}

/**
 * Copies `hash` from `source` into `local`, verifying size then SHA-256 before it appears under `sha256/`.
 * Returns the stored path (at once if already present).
 * @throws PeatError `CHECKSUM_MISMATCH` ("hash mismatch") or `INVALID_ARGUMENT` (size mismatch, or more bytes than
 * declared: the download stops there); `CANCELLED` when aborted; whatever `source` throws. The partial file is removed.
 */
export async function fetchBlob(source: BlobStore, local: FolderBlobStore, hash: string, expectedHex: string, sizeBytes: number, options: FetchOptions = {}): Promise<string> {
  if (await local.has(`sha256:${expectedHex}`)) return local.pathOf(`sha256:${expectedHex}`);
  const tmp = await local.tempPath();
  const sha = createHash('sha256');
  let received = 0;
  const out = createWriteStream(tmp);
  try {
    for await (const chunk of source.get(hash, options.signal ? { signal: options.signal } : {})) {
      if (options.signal?.aborted) throw new PeatError('CANCELLED', 'download aborted');
      received += chunk.length;
      if (received > sizeBytes) throw new PeatError('INVALID_ARGUMENT', `blob ${hash} is larger than the declared ${sizeBytes} bytes`);
      sha.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      options.onProgress?.(received);
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (received !== sizeBytes) throw new PeatError('INVALID_ARGUMENT', `blob ${hash}: ${received} bytes, ${sizeBytes} declared`);
    const got = sha.digest();
    const want = Buffer.from(expectedHex, 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw new PeatError('CHECKSUM_MISMATCH', 'hash mismatch');
    await mkdir(join(local.root, 'sha256'), { recursive: true });
    const dest = join(local.root, 'sha256', expectedHex);
    await rename(tmp, dest);
    return dest;
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}
