// SPDX-License-Identifier: Apache-2.0
// Chunk reassembly of spec §4.6 with the LTPAck events of §4.7: keyed buffers, a 5 s timeout, bounded memory with
// eviction of the oldest buffer, tombstones, duplicates and reordering tolerated, CRC failures counted missing.
// Nothing is sized by what a chunk declares until the declaration was checked against the tensor it describes.
import { EcpsError, ValidationError, systemClock, type Clock, type LtpCodecName, type TimerHandle } from '@ecps/core';
import type { LTPAck, LTPChunk } from '@ecps/proto';
import { chunkPayloadSize, describeChunk, sameTensor, DEFAULT_MAX_CHUNK_SIZE, type ChunkDescription } from './chunking';
import { maxPayloadBytes } from './codecs';
import { DEFAULT_MAX_TENSOR_BYTES, LTP_MESSAGE_TYPES, decodePayload, expectedTensorBytes, verifyHeader } from './frame';
import type { Tensor } from './tensor';

/** A tensor delivered to a subscriber, from one DATA frame or reassembled from chunks. */
export interface ReceivedTensor {
  tensor: Tensor;
  frameId: string;
  timestampNs: bigint;
  /** The CloudEvents `source` of the sender. */
  sender: string;
  /** `header.sequence_number` (0 from reference senders of DATA frames). */
  tensorId: number;
  codec: LtpCodecName;
  reassembled: boolean;
  /** Number of chunks (0 for a DATA frame). */
  totalChunks: number;
  /** `attributes` of a DATA frame (chunks carry none). */
  attributes: Record<string, string>;
}

/** Why a partly received or undecodable tensor was given up. */
export type ReassemblyReason = 'timeout' | 'evicted' | 'decode_error' | 'superseded';

export interface ReassemblyReport {
  reason: ReassemblyReason;
  sender: string;
  /** Our senders' tensor id; undefined for reference-SDK chunks. */
  tensorId?: number;
  frameId: string;
  timestampNs: bigint;
  totalChunks: number;
  receivedChunks: number;
  missingChunks: number[];
  error?: unknown;
}

export interface ReassemblyStats {
  completed: number;
  timeouts: number;
  evicted: number;
  decodeErrors: number;
  /** Chunks discarded because their CRC-32 did not match (they count as missing). */
  checksumFailures: number;
  duplicates: number;
  /** Chunks discarded for any other reason (malformed, mismatching metadata, over the size limit, late). */
  discarded: number;
  /** Bytes currently held: chunk data plus a fixed bookkeeping charge per chunk and per open tensor. */
  bufferedBytes: number;
  openTensors: number;
}

export interface ReassemblerOptions {
  clock?: Clock;
  /** Spec `LTP_FRAME_TIMEOUT_S`: 5000 ms from the first chunk. */
  timeoutMs?: number;
  /** Wait after the last index arrived with gaps before a `gap` ack (default 100 ms). */
  gapGraceMs?: number;
  /**
   * Beyond spec §4.7 (which only acks gaps once index n−1 arrived): when index n−1 is still missing and no chunk
   * has arrived for this long, send one `gap` ack too, so a lost final chunk is repaired (default 1000 ms; 0
   * disables). Independent of the spec's gap ack; each is sent at most once per tensor.
   */
  idleGapMs?: number;
  /** How long completed or dropped keys ignore late chunks (default 10 s). */
  tombstoneMs?: number;
  /** All buffers together, bookkeeping included (default 64 MiB). */
  maxBufferedBytes?: number;
  /** Open tensors per sender (default 8). */
  maxOpenPerSender?: number;
  /** Open tensors of all senders together (default 64): forged sender ids cannot open more. */
  maxOpenTensors?: number;
  /**
   * Smallest chunk payload a sender is assumed to use (default 1024, i.e. `max_chunk_size` ≥ 2048). A chunk that
   * declares more chunks than `ceil(largest payload for the tensor / this)` is refused with `FRAME_TOO_LARGE`.
   */
  minChunkPayloadBytes?: number;
  /** Largest decompressed tensor (default 256 MiB). */
  maxTensorBytes?: number;
  /** Chunks may carry at most `maxChunkSize − 1024` bytes (default 1 MiB). */
  maxChunkSize?: number;
}

export interface ReassemblerHooks {
  onTensor(tensor: ReceivedTensor): void | Promise<void>;
  /** An ack to send to `sender` (only for our senders' tensors). `topic` is where the chunks arrived. */
  onAck?(ack: LTPAck, sender: string, topic: string): void;
  onReport?(report: ReassemblyReport): void;
  /** A chunk was discarded (malformed, CRC mismatch, size, mismatching metadata). */
  onDiscard?(error: unknown, sender: string): void;
}

/** Upper bound on remembered completed/dropped keys. */
const MAX_TOMBSTONES = 65_536;
/** Charged to `bufferedBytes` per stored chunk and per open tensor, so floods of tiny chunks are bounded too. */
const CHUNK_OVERHEAD_BYTES = 96;
const TENSOR_OVERHEAD_BYTES = 512;

interface PendingTensor {
  key: string;
  sender: string;
  topic: string;
  tensorId: number;
  desc: ChunkDescription;
  /** One bit per chunk index: received and verified. */
  present: Uint8Array;
  /** Only the chunks that arrived, by index. */
  chunks: Map<number, Uint8Array>;
  received: number;
  /** Chunk data bytes; never above `maxPayload`. */
  bytes: number;
  /** The most payload the declared tensor can have with its codec. */
  maxPayload: number;
  /** What this tensor counts in `bufferedBytes`. */
  charged: number;
  timer: TimerHandle;
  gapTimer?: TimerHandle;
  idleTimer?: TimerHandle;
  idleAcked: boolean;
}

/** Reassembles chunked tensors from any number of senders. Feed it with {@link Reassembler.accept}. */
export class Reassembler {
  private readonly clock: Clock;
  private readonly opts: Required<Omit<ReassemblerOptions, 'clock'>>;
  private readonly pending = new Map<string, PendingTensor>();
  private readonly tombstones = new Map<string, { timestampNs: string; until: number }>();
  private readonly counters = { completed: 0, timeouts: 0, evicted: 0, decodeErrors: 0, checksumFailures: 0, duplicates: 0, discarded: 0 };
  private bufferedBytes = 0;
  private closed = false;

  constructor(
    private readonly hooks: ReassemblerHooks,
    options: ReassemblerOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.opts = {
      timeoutMs: options.timeoutMs ?? 5000,
      gapGraceMs: options.gapGraceMs ?? 100,
      idleGapMs: options.idleGapMs ?? 1000,
      tombstoneMs: options.tombstoneMs ?? 10_000,
      maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024 * 1024,
      maxOpenPerSender: options.maxOpenPerSender ?? 8,
      maxOpenTensors: options.maxOpenTensors ?? 64,
      minChunkPayloadBytes: options.minChunkPayloadBytes ?? 1024,
      maxTensorBytes: options.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES,
      maxChunkSize: options.maxChunkSize ?? DEFAULT_MAX_CHUNK_SIZE,
    };
  }

  stats(): ReassemblyStats {
    return { ...this.counters, bufferedBytes: this.bufferedBytes, openTensors: this.pending.size };
  }

  /**
   * Takes one chunk from `sender` (the CloudEvents source) that arrived on `topic`. Never throws for bad input:
   * a bad chunk is discarded and reported through `onDiscard`. Resolves after a completed tensor was delivered.
   */
  async accept(chunk: LTPChunk, sender: string, topic: string): Promise<void> {
    if (this.closed) return;
    let desc: ChunkDescription;
    try {
      desc = this.check(chunk);
    } catch (error) {
      this.discard(error, sender);
      return;
    }
    const header = chunk.header!;
    const key = desc.ours ? `${sender}\u0000${header.sequenceNumber}` : `${sender}\u0000${desc.frameId}\u0000${desc.timestampNs}`;
    const tomb = this.tombstone(key);
    if (tomb === desc.timestampNs) {
      this.counters.discarded++;
      return;
    }
    let entry = this.pending.get(key);
    if (entry && entry.desc.timestampNs !== desc.timestampNs) {
      this.drop(entry, 'superseded');
      entry = undefined;
    }
    if (entry && !sameTensor(entry.desc, desc)) {
      this.discard(new ValidationError('DECODE_ERROR', `chunk ${header.chunkIndex} does not match the tensor's metadata`), sender);
      return;
    }
    if (!entry) {
      let maxPayload: number;
      try {
        maxPayload = this.admit(desc);
      } catch (error) {
        this.discard(error, sender);
        if (desc.ours) this.ack({ sender, topic, tensorId: header.sequenceNumber, desc }, false, 'decode_error', 0, []);
        this.bury(key, desc.timestampNs);
        return;
      }
      const opened = this.open(key, sender, topic, header.sequenceNumber, desc, maxPayload);
      if (!opened) return;
      entry = opened;
    }
    const index = header.chunkIndex;
    const bit = 1 << (index & 7);
    if (entry.present[index >>> 3]! & bit) {
      this.counters.duplicates++;
      return;
    }
    const data = chunk.chunkData;
    if (entry.bytes + data.length > entry.maxPayload) {
      const error = new ValidationError('FRAME_TOO_LARGE', `chunks carry more than the ${entry.maxPayload} bytes this tensor can need`, {
        details: { limit: entry.maxPayload },
      });
      this.drop(entry, 'decode_error', error);
      return;
    }
    const cost = data.length + CHUNK_OVERHEAD_BYTES;
    if (!this.reserve(cost, entry)) return;
    entry.present[index >>> 3]! |= bit;
    entry.chunks.set(index, data);
    entry.received++;
    entry.bytes += data.length;
    entry.charged += cost;
    this.bufferedBytes += cost;
    if (entry.received === entry.desc.totalChunks) {
      await this.complete(entry);
      return;
    }
    const last = entry.desc.totalChunks - 1;
    const lastPresent = (entry.present[last >>> 3]! & (1 << (last & 7))) !== 0;
    if (lastPresent && !entry.gapTimer) {
      entry.gapTimer = this.clock.setTimeout(() => this.gapAck(entry, 'grace'), this.opts.gapGraceMs);
    }
    if (entry.idleTimer) this.clock.clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    if (!lastPresent && !entry.idleAcked && this.opts.idleGapMs > 0) {
      entry.idleTimer = this.clock.setTimeout(() => this.gapAck(entry, 'idle'), this.opts.idleGapMs);
    }
  }

  /** Drops every buffer without reports and stops all timers. */
  close(): void {
    this.closed = true;
    for (const entry of this.pending.values()) this.release(entry);
    this.tombstones.clear();
  }

  private check(chunk: LTPChunk): ChunkDescription {
    const header = chunk.header;
    const desc = describeChunk(chunk);
    if (!header || header.totalChunks < 2 || header.chunkIndex >= header.totalChunks) {
      throw new ValidationError('DECODE_ERROR', `chunk index ${header?.chunkIndex} of ${header?.totalChunks} is invalid`);
    }
    const limit = chunkPayloadSize(this.opts.maxChunkSize);
    if (chunk.chunkData.length > limit) {
      throw new ValidationError('FRAME_TOO_LARGE', `chunk of ${chunk.chunkData.length} bytes exceeds ${limit}`, {
        details: { bytes: chunk.chunkData.length, limit },
      });
    }
    try {
      verifyHeader(header, chunk.chunkData);
    } catch (error) {
      this.counters.checksumFailures++;
      throw error;
    }
    return desc;
  }

  private discard(error: unknown, sender: string): void {
    this.counters.discarded++;
    this.hooks.onDiscard?.(error, sender);
  }

  private tombstone(key: string): string | undefined {
    const now = this.clock.monotonic();
    for (const [k, t] of this.tombstones) {
      if (t.until > now) break;
      this.tombstones.delete(k);
    }
    return this.tombstones.get(key)?.timestampNs;
  }

  private bury(key: string, timestampNs: string): void {
    this.tombstones.delete(key);
    // bounded even under a flood of fresh keys: the oldest tombstone goes first
    if (this.tombstones.size >= MAX_TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value as string);
    this.tombstones.set(key, { timestampNs, until: this.clock.monotonic() + this.opts.tombstoneMs });
  }

  /**
   * Checks what a first chunk declares before anything is allocated for its tensor: the tensor's size rules
   * (dtype, shape, original size, the size cap) and a chunk count the tensor's largest payload can need.
   * Returns that largest payload. Throws the size rules' errors and `FRAME_TOO_LARGE`.
   */
  private admit(desc: ChunkDescription): number {
    const expected = expectedTensorBytes(
      { dtype: desc.dtype, shape: desc.shape, codec: desc.codec, level: desc.level, originalSize: desc.originalSize },
      this.opts.maxTensorBytes,
    );
    const maxPayload = maxPayloadBytes(desc.codec, expected);
    const maxChunks = Math.max(2, Math.ceil(maxPayload / this.opts.minChunkPayloadBytes));
    if (desc.totalChunks > maxChunks) {
      throw new ValidationError('FRAME_TOO_LARGE', `${desc.totalChunks} chunks declared for a tensor of ${expected} bytes (at most ${maxChunks})`, {
        details: { totalChunks: desc.totalChunks, limit: maxChunks },
      });
    }
    return maxPayload;
  }

  /** Makes room for `bytes` by evicting the oldest tensors. False when `entry` itself had to go, or nothing fits. */
  private reserve(bytes: number, entry?: PendingTensor): boolean {
    if (bytes > this.opts.maxBufferedBytes) {
      if (entry) this.drop(entry, 'evicted');
      return false;
    }
    while (this.bufferedBytes + bytes > this.opts.maxBufferedBytes) {
      const oldest = this.pending.values().next().value as PendingTensor;
      this.drop(oldest, 'evicted');
      if (oldest === entry) return false;
    }
    return true;
  }

  private open(key: string, sender: string, topic: string, tensorId: number, desc: ChunkDescription, maxPayload: number): PendingTensor | undefined {
    let open = 0;
    let oldest: PendingTensor | undefined;
    for (const e of this.pending.values()) {
      if (e.sender !== sender) continue;
      open++;
      oldest ??= e;
    }
    if (open >= this.opts.maxOpenPerSender && oldest) this.drop(oldest, 'evicted');
    if (this.pending.size >= this.opts.maxOpenTensors) this.drop(this.pending.values().next().value as PendingTensor, 'evicted');
    const present = new Uint8Array(Math.ceil(desc.totalChunks / 8));
    const charged = TENSOR_OVERHEAD_BYTES + present.length;
    if (!this.reserve(charged)) {
      this.discard(new EcpsError('RESOURCE_EXHAUSTED', `a tensor of ${desc.totalChunks} chunks does not fit maxBufferedBytes`), sender);
      return undefined;
    }
    const entry: PendingTensor = {
      key,
      sender,
      topic,
      tensorId,
      desc,
      present,
      chunks: new Map(),
      received: 0,
      bytes: 0,
      maxPayload,
      charged,
      timer: this.clock.setTimeout(() => this.drop(entry, 'timeout'), this.opts.timeoutMs),
      idleAcked: false,
    };
    this.bufferedBytes += charged;
    this.pending.set(key, entry);
    return entry;
  }

  private missing(entry: PendingTensor): number[] {
    const missing: number[] = [];
    const { present } = entry;
    for (let i = 0; i < entry.desc.totalChunks; i++) if ((present[i >>> 3]! & (1 << (i & 7))) === 0) missing.push(i);
    return missing;
  }

  private gapAck(entry: PendingTensor, trigger: 'grace' | 'idle'): void {
    if (this.pending.get(entry.key) !== entry) return;
    if (trigger === 'idle') entry.idleAcked = true;
    this.ack(entry, false, 'gap', entry.received, this.missing(entry));
  }

  private release(entry: PendingTensor): void {
    if (this.pending.get(entry.key) !== entry) return;
    this.pending.delete(entry.key);
    this.bufferedBytes -= entry.charged;
    this.clock.clearTimeout(entry.timer);
    if (entry.gapTimer) this.clock.clearTimeout(entry.gapTimer);
    if (entry.idleTimer) this.clock.clearTimeout(entry.idleTimer);
    entry.chunks.clear();
  }

  private drop(entry: PendingTensor, reason: ReassemblyReason, error?: unknown): void {
    if (this.pending.get(entry.key) !== entry) return;
    const missing = reason === 'decode_error' ? [] : this.missing(entry);
    this.release(entry);
    if (reason !== 'superseded') this.bury(entry.key, entry.desc.timestampNs);
    this.report(entry, reason, missing, error);
  }

  private report(entry: PendingTensor, reason: ReassemblyReason, missing: number[], error?: unknown): void {
    if (reason === 'timeout') this.counters.timeouts++;
    if (reason === 'evicted') this.counters.evicted++;
    if (reason === 'decode_error') this.counters.decodeErrors++;
    if (reason !== 'superseded') this.ack(entry, false, reason, entry.received, missing);
    this.hooks.onReport?.({
      reason,
      sender: entry.sender,
      ...(entry.desc.ours ? { tensorId: entry.tensorId } : {}),
      frameId: entry.desc.frameId,
      timestampNs: BigInt(entry.desc.timestampNs),
      totalChunks: entry.desc.totalChunks,
      receivedChunks: entry.received,
      missingChunks: missing,
      ...(error === undefined ? {} : { error }),
    });
  }

  private ack(
    entry: Pick<PendingTensor, 'sender' | 'topic' | 'tensorId' | 'desc'>,
    success: boolean,
    message: string,
    received: number,
    missing: number[],
  ): void {
    if (!entry.desc.ours || !this.hooks.onAck) return;
    this.hooks.onAck(
      {
        header: {
          version: 1,
          messageType: LTP_MESSAGE_TYPES.ack,
          payloadLength: 0,
          sequenceNumber: entry.tensorId,
          totalChunks: entry.desc.totalChunks,
          chunkIndex: 0,
          checksum: new Uint8Array(0),
          metadata: { frame_id: entry.desc.frameId, timestamp_ns: entry.desc.timestampNs },
        },
        success,
        message,
        receivedChunks: received,
        missingChunks: missing,
      },
      entry.sender,
      entry.topic,
    );
  }

  private async complete(entry: PendingTensor): Promise<void> {
    const { desc } = entry;
    const payload = new Uint8Array(entry.bytes);
    let offset = 0;
    for (let i = 0; i < desc.totalChunks; i++) {
      const part = entry.chunks.get(i)!;
      payload.set(part, offset);
      offset += part.length;
    }
    // settled before decoding, so chunks arriving meanwhile hit the tombstone
    this.release(entry);
    this.bury(entry.key, desc.timestampNs);
    let tensor: Tensor;
    try {
      tensor = await decodePayload(
        { dtype: desc.dtype, shape: desc.shape, codec: desc.codec, level: desc.level, originalSize: desc.originalSize },
        payload,
        this.opts.maxTensorBytes,
      );
    } catch (error) {
      this.report(entry, 'decode_error', [], error);
      return;
    }
    this.counters.completed++;
    this.ack(entry, true, 'ok', desc.totalChunks, []);
    await this.hooks.onTensor({
      tensor,
      frameId: desc.frameId,
      timestampNs: BigInt(desc.timestampNs),
      sender: entry.sender,
      tensorId: desc.ours ? entry.tensorId : 0,
      codec: desc.codec,
      reassembled: true,
      totalChunks: desc.totalChunks,
      attributes: {},
    });
  }
}
