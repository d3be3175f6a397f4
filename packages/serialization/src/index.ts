// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/serialization.

export { protobufCodec, jsonCodec, msgpackCodec, codecFor, codecNameForContentType, CONTENT_TYPES } from './codecs';
export { ECPS_MESSAGES, kindForEventType } from './messages';
export { createEvent, encodeEvent, encodeMessageEvent, decodeEvent, decodeMessageEvent } from './events';
export { toBinaryMode, fromBinaryMode, toStructured, fromStructured, STRUCTURED_CONTENT_TYPE } from './wire-modes';
export { parseTraceparent, formatTraceparent, traceContextOf } from './trace-context';

export type { MessageFns } from './codecs';
export type { MessageKind, MessageTypes } from './messages';
export type { EventInit } from './events';
export type { BinaryModeMessage } from './wire-modes';
export type { TraceParent } from './trace-context';
