// SPDX-License-Identifier: Apache-2.0
// Encoding a message into a Buffer for grpc-js through one shared protobuf writer. A fresh writer starts empty and
// doubles its way up to the message's size (a 1 KiB envelope: five allocations and copies before the final one);
// the shared one keeps its buffer, so an encode allocates only the result. Encoding is synchronous, so no two
// encodes ever share it at once.
import { BinaryWriter } from '@bufbuild/protobuf/wire';

/** A generated message type's encoder. */
export interface MessageEncoder<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/** Results larger than this leave the writer behind, so one big message does not keep its buffer alive. */
const KEEP_WRITER_UP_TO = 64 * 1024;
let shared = new BinaryWriter();

/** `type.encode(value)` as a Buffer over the encoded bytes (no second copy). */
export function encodeToBuffer<T>(type: MessageEncoder<T>, value: T): Buffer {
  let bytes: Uint8Array;
  try {
    bytes = type.encode(value, shared).finish();
  } catch (err) {
    shared = new BinaryWriter(); // a throw mid-message leaves the writer's state behind
    throw err;
  }
  if (bytes.byteLength > KEEP_WRITER_UP_TO) shared = new BinaryWriter();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
