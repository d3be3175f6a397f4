// SPDX-License-Identifier: Apache-2.0
// A DATA frame's protobuf bytes in one allocation. The generated encoder writes only the small fields; the payload
// is copied into place once, its CRC-32 computed in the same pass, and the checksum patched into the header. The
// bytes are those of `LTP.encode(dataFrame(...)).finish()` without that path's growing writer, zero-filled buffers
// and final concatenation; an uncompressed payload is also preceded by an alignment pad (below).
import { varintSize, writeVarint } from '@ecps/core';
import { LTP, LTPFrameHeader } from '@ecps/proto';
import { copyWithCrc32, crc32Bytes } from './crc32';

/** Tag of `LTP.tensor_zstd` (field 3, length-delimited). */
const PAYLOAD_TAG = 0x1a;
/** Tag of `LTPFrameHeader.checksum` (field 7, length-delimited). */
const CHECKSUM_TAG = 0x3a;
const CHECKSUM_PLACEHOLDER = new Uint8Array(4);
/**
 * Tag of the alignment pad: field 2047, length-delimited (`fa 7f`), a number the LTP schema does not use. Every
 * protobuf decoder skips an unknown field, and the spec has receivers ignore unknown fields, so the frame decodes
 * everywhere to the same message. It moves an uncompressed payload to an 8-byte boundary of the frame, so a
 * receiver holding the frame at an aligned address views the tensor in place instead of copying it.
 */
const PAD_TAG = [0xfa, 0x7f] as const;
/** Tag bytes plus the one-byte length of the pad field. */
const PAD_OVERHEAD = 3;
export const PAYLOAD_ALIGNMENT = 8;

/** Bytes of pad field needed so that a payload starting `unpadded` bytes in lands on an 8-byte boundary. */
function padLength(unpadded: number): number {
  const need = (PAYLOAD_ALIGNMENT - (unpadded % PAYLOAD_ALIGNMENT)) % PAYLOAD_ALIGNMENT;
  if (need === 0) return 0;
  return PAD_OVERHEAD + ((need - PAD_OVERHEAD + PAYLOAD_ALIGNMENT) % PAYLOAD_ALIGNMENT);
}

/**
 * Frames whose payload is at least this large are allocated before their envelope (every field but the payload) is
 * encoded, with {@link ENVELOPE_ROOM_BYTES} to spare. Allocated after the encoder's small buffers, a frame of a few
 * hundred KiB or more came back from the C allocator as fresh pages nearly every time (measured on glibc: about every
 * page of a 1 MiB frame faulted in again per message, which cost more than the frame's CRC-32); allocated first, it
 * reuses the memory of the frames already collected.
 */
const EARLY_ALLOCATION_BYTES = 256 * 1024;
/** Envelope room of an early-allocated frame (a frame whose envelope is larger is allocated again, exactly). */
const ENVELOPE_ROOM_BYTES = 4096;

/** Uninitialised memory at offset 0 of its own ArrayBuffer (every byte is written before it is handed out). */
function allocate(length: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
}

/**
 * Serializes the DATA frame `frame` (from `dataFrame`; its checksum and payload are ignored) around the payload
 * `parts` (written one after another; `header.payloadLength` bytes in all), computing the payload's CRC-32 while
 * copying it into place. With `align`, a pad field puts the payload at an 8-byte offset. Returns a Uint8Array at
 * offset 0 of its ArrayBuffer (so offsets in it are addresses modulo 8); the buffer may have a few KiB to spare.
 */
export function serializeDataFrame(frame: LTP, parts: readonly Uint8Array[], align = false): Uint8Array {
  const header = frame.header!;
  const payloadLength = header.payloadLength;
  if (parts.reduce((n, part) => n + part.length, 0) !== payloadLength) throw new Error('payload parts do not add up to payload_length');
  if (payloadLength === 0) return LTP.encode({ ...frame, tensorZstd: new Uint8Array(0), header: { ...header, checksum: crc32Bytes(new Uint8Array(0)) } }).finish();
  const early = payloadLength >= EARLY_ALLOCATION_BYTES ? allocate(payloadLength + ENVELOPE_ROOM_BYTES) : undefined;
  const prefix = LTP.encode(LTP.fromPartial({ spec: frame.spec, header: { ...header, checksum: CHECKSUM_PLACEHOLDER } })).finish();
  const metadataBytes = LTPFrameHeader.encode(LTPFrameHeader.fromPartial({ metadata: header.metadata })).finish().length;
  const checksumAt = prefix.length - metadataBytes - 4;
  if (prefix[checksumAt - 2] !== CHECKSUM_TAG || prefix[checksumAt - 1] !== 4) throw new Error('LTP header layout changed');
  const trailer = LTP.encode({ ...frame, spec: '', header: undefined, tensorZstd: new Uint8Array(0) }).finish();

  const lengthBytes = 1 + varintSize(payloadLength);
  const pad = align ? padLength(prefix.length + lengthBytes) : 0;
  const payloadAt = prefix.length + pad + lengthBytes;
  const total = payloadAt + payloadLength + trailer.length;
  const out = early && total <= early.length ? early.subarray(0, total) : allocate(total);
  out.set(prefix, 0);
  let at = prefix.length;
  if (pad > 0) {
    out[at++] = PAD_TAG[0];
    out[at++] = PAD_TAG[1];
    out[at++] = pad - PAD_OVERHEAD;
    out.fill(0, at, at + pad - PAD_OVERHEAD);
    at += pad - PAD_OVERHEAD;
  }
  out[at] = PAYLOAD_TAG;
  writeVarint(out, at + 1, payloadLength);
  let crc = 0;
  at = payloadAt;
  for (const part of parts) {
    crc = copyWithCrc32(part, out, at, crc);
    at += part.length;
  }
  out.set(trailer, payloadAt + payloadLength);
  out[checksumAt] = crc >>> 24;
  out[checksumAt + 1] = (crc >>> 16) & 0xff;
  out[checksumAt + 2] = (crc >>> 8) & 0xff;
  out[checksumAt + 3] = crc & 0xff;
  return out;
}
