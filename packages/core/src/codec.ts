// SPDX-License-Identifier: Apache-2.0

/** Wire encodings every ECPS message supports (see `@ecps/serialization`). */
export type CodecName = 'protobuf' | 'json' | 'msgpack';

/**
 * Encodes and decodes one message type. `decode` never returns a partially valid message:
 * malformed input throws an `EcpsError` with code `DECODE_ERROR`.
 */
export interface MessageCodec<T> {
  readonly name: CodecName;
  /** MIME type of the encoded bytes, for CloudEvents `datacontenttype`. */
  readonly contentType: string;
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}
