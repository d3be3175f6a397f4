// SPDX-License-Identifier: Apache-2.0
// The one message of peat.v1.Mesh/Stream (proto/peat/v1/mesh.proto): `PeatFrame { bytes data = 1; }`, encoded by
// hand (field 1, wire type 2: tag 0x0a, varint length, bytes).
import { PeatError } from '@ecps/peat';

export function encodePeatFrame(data: Uint8Array): Buffer {
  if (data.length === 0) return Buffer.alloc(0);
  const len: number[] = [];
  let n = data.length;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  len.push(n);
  const out = Buffer.allocUnsafe(1 + len.length + data.length);
  out[0] = 0x0a;
  out.set(len, 1);
  out.set(data, 1 + len.length);
  return out;
}

/** Decodes a PeatFrame, skipping unknown fields as protobuf requires. @throws PeatError `DECODE_ERROR`. */
export function decodePeatFrame(bytes: Uint8Array): Uint8Array {
  let at = 0;
  let data: Uint8Array = new Uint8Array(0);
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (at >= bytes.length) throw new PeatError('DECODE_ERROR', 'truncated varint in PeatFrame');
      const b = bytes[at++]!;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
    throw new PeatError('DECODE_ERROR', 'varint too long in PeatFrame');
  };
  while (at < bytes.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 2) {
      const len = varint();
      if (at + len > bytes.length) throw new PeatError('DECODE_ERROR', 'truncated bytes field in PeatFrame');
      if (tag >>> 3 === 1) data = bytes.subarray(at, at + len);
      at += len;
    } else if (wire === 0) varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new PeatError('DECODE_ERROR', `unsupported wire type ${wire} in PeatFrame`);
  }
  if (at > bytes.length) throw new PeatError('DECODE_ERROR', 'truncated PeatFrame');
  return data;
}
