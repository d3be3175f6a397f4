// SPDX-License-Identifier: Apache-2.0
// The canonical `ecps.Ack { bool success = 1; string message = 2; }`, coded by hand so that the core stays
// dependency-free while the RPC layer can end streams with it (spec §9: `ecps.stream.end` carries an Ack).
import { ValidationError } from './errors';

export interface AckMessage {
  success: boolean;
  message: string;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeAck(ack: AckMessage): Uint8Array {
  const text = utf8.encode(ack.message);
  const head = [...(ack.success ? [0x08, 0x01] : []), ...(text.length > 0 ? [0x12, ...varint(text.length)] : [])];
  const out = new Uint8Array(head.length + text.length);
  out.set(head);
  out.set(text, head.length);
  return out;
}

export function decodeAck(bytes: Uint8Array): AckMessage {
  const ack: AckMessage = { success: false, message: '' };
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length) throw new ValidationError('DECODE_ERROR', 'truncated Ack');
      const b = bytes[pos++]!;
      if (shift < 28) result |= (b & 0x7f) << shift;
      else result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new ValidationError('DECODE_ERROR', 'varint too long in Ack');
    }
  };
  while (pos < bytes.length) {
    const tag = readVarint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      const v = readVarint();
      if (field === 1) ack.success = v !== 0;
    } else if (wire === 2) {
      const len = readVarint();
      if (pos + len > bytes.length) throw new ValidationError('DECODE_ERROR', 'truncated Ack');
      if (field === 2) ack.message = utf8Decoder.decode(bytes.subarray(pos, pos + len));
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new ValidationError('DECODE_ERROR', `unsupported wire type ${wire} in Ack`);
  }
  if (pos > bytes.length) throw new ValidationError('DECODE_ERROR', 'truncated Ack');
  return ack;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
