// SPDX-License-Identifier: Apache-2.0
// Where the file writer frames the records of one turn: fixed-size buffers reused from write to write, so appending
// allocates nothing per record. One batch is lent out to the file at a time; its buffers come back after the write.

/** Staging buffers of `chunkBytes` each; a record larger than that gets a buffer of its own (not kept). */
export class StagingBuffers {
  private current: Uint8Array | undefined;
  private used = 0;
  /** Filled views not yet taken, oldest first, and the buffers behind them. */
  private readonly filled: Uint8Array[] = [];
  private filledBuffers: Uint8Array[] = [];
  /** Buffers behind the views handed out by {@link take} and not yet released. */
  private lent: Uint8Array[] = [];
  /** One buffer kept for the next batch (bounded: a writer holds at most a few chunks while idle). */
  private spare: Uint8Array | undefined;

  constructor(private readonly chunkBytes: number) {}

  /** Reserves `bytes` and returns the offset in {@link target} to write them at (before the next reserve). */
  reserve(bytes: number): number {
    if (this.current === undefined || this.used + bytes > this.current.length) this.next(bytes);
    const at = this.used;
    this.used += bytes;
    return at;
  }

  /** The buffer the last {@link reserve} points into. */
  get target(): Uint8Array {
    return this.current as Uint8Array;
  }

  /** Views of everything reserved since the last take, in order. Their buffers are not reused until {@link release}. */
  take(): Uint8Array[] {
    if (this.current !== undefined && this.used > 0) {
      this.seal();
      this.current = undefined;
      this.used = 0;
    }
    this.lent.push(...this.filledBuffers);
    this.filledBuffers = [];
    return this.filled.splice(0);
  }

  /** The views of the last take are written (or abandoned): their buffers may be reused. */
  release(): void {
    for (const buffer of this.lent) if (buffer.length === this.chunkBytes && this.spare === undefined) this.spare = buffer;
    this.lent = [];
  }

  /** Drops every buffer (the writer is closed). */
  dispose(): void {
    this.current = this.spare = undefined;
    this.filled.length = 0;
    this.filledBuffers = [];
    this.lent = [];
    this.used = 0;
  }

  private seal(): void {
    const current = this.current as Uint8Array;
    this.filled.push(current.subarray(0, this.used));
    this.filledBuffers.push(current);
  }

  private next(bytes: number): void {
    if (this.current !== undefined && this.used > 0) this.seal();
    else if (this.current?.length === this.chunkBytes) this.spare ??= this.current;
    if (bytes > this.chunkBytes) this.current = allocate(bytes);
    else {
      this.current = this.spare ?? allocate(this.chunkBytes);
      this.spare = undefined;
    }
    this.used = 0;
  }
}

/** Uninitialised memory: every byte handed to a write was framed first. */
const allocate = (bytes: number): Uint8Array => Buffer.allocUnsafeSlow(bytes);
