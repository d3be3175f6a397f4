// SPDX-License-Identifier: Apache-2.0
// The decoding of a ProtectedEvent on the receive path: the fields the writer emits, each read straight from the
// bytes, and the short strings that repeat from message to message (source, type, sender, destination) taken from a
// one-entry cache per field instead of being decoded again. Anything else (extensions, delegations, unknown or
// repeated-differently fields, multi-byte tags, odd varints) goes to the generated decoder, so the result is always
// what `ProtectedEvent.decode` returns (a property test holds it to that) and its errors are that decoder's.
import { ProtectedEvent } from '@ecps/proto/ext/v1';

/** Longest string the per-field cache holds. */
const MAX_CACHED = 64;

/** UTF-8 as the generated decoder reads it: a leading U+FEFF is text, malformed bytes become U+FFFD. */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** A string field's text: short ASCII without a view or a decoder call, as the generated decoder reads it. */
function readString(buf: Uint8Array, at: number, length: number): string {
  if (length <= 32) {
    let ascii = true;
    for (let i = at; i < at + length; i++) if (buf[i]! > 0x7f) ascii = false;
    if (ascii) return String.fromCharCode.apply(null, buf.subarray(at, at + length) as unknown as number[]);
  }
  return utf8.decode(buf.subarray(at, at + length));
}

/** The last string read for one field, with its bytes. */
class FieldCache {
  private bytes = new Uint8Array(MAX_CACHED);
  private length = -1;
  private value = '';

  read(buf: Uint8Array, at: number, length: number): string {
    if (length === this.length) {
      let i = 0;
      while (i < length && buf[at + i] === this.bytes[i]) i++;
      if (i === length) return this.value;
    }
    const value = readString(buf, at, length);
    if (length <= MAX_CACHED) {
      this.bytes.set(buf.subarray(at, at + length));
      this.length = length;
      this.value = value;
    }
    return value;
  }
}

const caches = { source: new FieldCache(), type: new FieldCache(), time: new FieldCache(), contentType: new FieldCache(), sender: new FieldCache(), destination: new FieldCache() };

/**
 * `ProtectedEvent.decode(bytes)`, reading the common shape directly. `data` and `nonce` are views into `bytes`.
 * @throws Error as the generated decoder does for malformed input.
 */
export function decodeProtectedEvent(bytes: Uint8Array): ProtectedEvent {
  return readCommon(bytes) ?? ProtectedEvent.decode(bytes);
}

/** The message, or undefined when it needs the generated decoder. */
function readCommon(buf: Uint8Array): ProtectedEvent | undefined {
  let id = '';
  let source = '';
  let type = '';
  let time = '';
  let datacontenttype = '';
  let senderId = '';
  let destination = '';
  let data: Uint8Array = new Uint8Array(0);
  let nonce = data;
  let timestampNs = 0n;
  const end = buf.length;
  let at = 0;
  while (at < end) {
    const tag = buf[at++]!;
    if (tag === 72) {
      // uint64 varint of at most 9 bytes (below 2^63: nanoseconds until the year 2262); the generated decoder reads longer ones
      let lo = 0;
      let hi = 0;
      let byte = 0x80;
      for (let shift = 0; shift < 63 && at < end && byte & 0x80; shift += 7) {
        byte = buf[at++]!;
        const bits = byte & 0x7f;
        if (shift < 28) lo |= bits << shift;
        else if (shift === 28) {
          lo |= (bits & 0x0f) << 28;
          hi |= bits >>> 4;
        } else hi |= bits << (shift - 32);
      }
      if (byte & 0x80) return undefined;
      timestampNs = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      continue;
    }
    // every other field the writer emits is length-delimited: a varint length of at most 4 bytes here
    let length = 0;
    let shift = 0;
    let byte = 0x80;
    for (let n = 0; n < 4 && at < end && byte & 0x80; n++, shift += 7) {
      byte = buf[at++]!;
      length |= (byte & 0x7f) << shift;
    }
    if (byte & 0x80 || length > end - at) return undefined;
    switch (tag) {
      case 10:
        id = readString(buf, at, length); // differs from message to message
        break;
      case 18:
        source = caches.source.read(buf, at, length);
        break;
      case 26:
        type = caches.type.read(buf, at, length);
        break;
      case 34:
        time = caches.time.read(buf, at, length);
        break;
      case 42:
        datacontenttype = caches.contentType.read(buf, at, length);
        break;
      case 58:
        data = buf.subarray(at, at + length);
        break;
      case 66:
        senderId = caches.sender.read(buf, at, length);
        break;
      case 82:
        nonce = buf.subarray(at, at + length);
        break;
      case 90:
        destination = caches.destination.read(buf, at, length);
        break;
      default:
        return undefined;
    }
    at += length;
  }
  return { id, source, type, time, datacontenttype, extensions: {}, data, senderId, timestampNs, nonce, destination, delegations: [] };
}
