// SPDX-License-Identifier: Apache-2.0
// A DATA frame's protobuf bytes in one allocation. The generated encoder writes only the small fields; the payload
// is copied into place once, its CRC-32 computed in the same pass, and the checksum patched into the header. The
// bytes are those of `LTP.encode(dataFrame(...)).finish()` without that path's growing writer, zero-filled buffers
// and final concatenation; an uncompressed payload is also preceded by an alignment pad (below).
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

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    length++;
  }
  return length;
}

function writeVarint(target: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    target[offset++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  target[offset++] = value;
  return offset;
}

/**
 * Serializes the DATA frame `frame` (from `dataFrame`; its checksum is ignored and recomputed), computing the
 * payload's CRC-32 while copying the payload into place. With `align`, a pad field puts the payload at an 8-byte
 * offset. Returns a Uint8Array that owns its whole ArrayBuffer (so offsets in it are addresses modulo 8).
 */
export function serializeDataFrame(frame: LTP, align = false): Uint8Array {
  const payload = frame.tensorZstd;
  const header = frame.header!;
  if (payload.length === 0) return LTP.encode({ ...frame, header: { ...header, checksum: crc32Bytes(payload) } }).finish();
  const prefix = LTP.encode(LTP.fromPartial({ spec: frame.spec, header: { ...header, checksum: CHECKSUM_PLACEHOLDER } })).finish();
  const metadataBytes = LTPFrameHeader.encode(LTPFrameHeader.fromPartial({ metadata: header.metadata })).finish().length;
  const checksumAt = prefix.length - metadataBytes - 4;
  if (prefix[checksumAt - 2] !== CHECKSUM_TAG || prefix[checksumAt - 1] !== 4) throw new Error('LTP header layout changed');
  const trailer = LTP.encode({ ...frame, spec: '', header: undefined, tensorZstd: new Uint8Array(0) }).finish();

  const lengthBytes = 1 + varintLength(payload.length);
  const pad = align ? padLength(prefix.length + lengthBytes) : 0;
  const payloadAt = prefix.length + pad + lengthBytes;
  const total = payloadAt + payload.length + trailer.length;
  // uninitialised memory is fine: every byte is written below
  const out = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total);
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
  writeVarint(out, at + 1, payload.length);
  const crc = copyWithCrc32(payload, out, payloadAt);
  out.set(trailer, payloadAt + payload.length);
  out[checksumAt] = crc >>> 24;
  out[checksumAt + 1] = (crc >>> 16) & 0xff;
  out[checksumAt + 2] = (crc >>> 8) & 0xff;
  out[checksumAt + 3] = crc & 0xff;
  return out;
}
