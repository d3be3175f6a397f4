// SPDX-License-Identifier: Apache-2.0
// Synchronous framing of plain records (no encryption, no signing, no zstd) into memory the caller owns, so the file
// writer frames a turn's appends into one reused buffer instead of allocating a buffer (and a promise chain) per
// record. The bytes are exactly those of the async encoders in encoder.ts (the tests compare both).
import { ValidationError } from '@ecps/core';
import { compressSync } from './compression';
import { crc32 } from './crc32';
import { RECORD_DATA } from './format';

/** Frames one message at a time, in order. Not reentrant (the writer calls it synchronously). */
export interface RecordFramer {
  /** Framing bytes a record adds around its content. */
  readonly overhead: number;
  /** What goes inside the frame for `message` (deflated when the log compresses). Throws `MESSAGE_TOO_LARGE`. */
  content(message: Uint8Array): Uint8Array;
  /** Writes the framed record of `content` at `offset` of `target`, which has room for `content.length + overhead`. */
  write(content: Uint8Array, target: Uint8Array, offset: number): void;
}

function putU32le(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value & 0xff;
  target[offset + 1] = (value >>> 8) & 0xff;
  target[offset + 2] = (value >>> 16) & 0xff;
  target[offset + 3] = value >>> 24;
}

/** Native DATA record: u32le(L) ‖ 0x01 ‖ content ‖ u32le(crc32(0x01 ‖ content)). */
export class NativeDataFramer implements RecordFramer {
  readonly overhead = 9;

  constructor(
    private readonly compression: 'none' | 'deflate',
    private readonly maxRecordBytes: number,
    /** Called once per framed record (the encoder's index and DATA count). */
    private readonly onFramed: () => void,
  ) {}

  content(message: Uint8Array): Uint8Array {
    const content = compressSync(this.compression, message);
    if (content.length + 1 > this.maxRecordBytes) {
      throw new ValidationError('MESSAGE_TOO_LARGE', `record of ${content.length + 1} bytes exceeds the ${this.maxRecordBytes}-byte limit`);
    }
    return content;
  }

  write(content: Uint8Array, target: Uint8Array, offset: number): void {
    const end = offset + 5 + content.length;
    putU32le(target, offset, content.length + 1);
    target[offset + 4] = RECORD_DATA;
    target.set(content, offset + 5);
    // summed right after the copy, while the bytes are still in cache
    putU32le(target, end, crc32(target.subarray(offset + 4, end)));
    this.onFramed();
  }
}

/** Reference record: u32le(L) ‖ payload. */
export class ReferenceFramer implements RecordFramer {
  readonly overhead = 4;

  constructor(private readonly maxRecordBytes: number) {}

  content(message: Uint8Array): Uint8Array {
    if (message.length > this.maxRecordBytes) {
      throw new ValidationError('MESSAGE_TOO_LARGE', `message of ${message.length} bytes exceeds ${this.maxRecordBytes}`);
    }
    return message;
  }

  write(content: Uint8Array, target: Uint8Array, offset: number): void {
    putU32le(target, offset, content.length);
    target.set(content, offset + 4);
  }
}
