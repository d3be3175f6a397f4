// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/ltp.

export {
  createTensor,
  tensorToBytes,
  tensorFromBytes,
  elementCount,
  f16ToNumber,
  numberToF16,
  HOST_IS_LITTLE_ENDIAN,
} from './tensor';
export { crc32, crc32Bytes } from './crc32';
export { pythonFloatString } from './python-float';
export { compressPayload, decompressPayload, zstdImplementation, DEFAULT_LEVELS, LTP_CODECS } from './codecs';
export { walkZstdFrames } from './zstd-frames';
export {
  encodeTensorFrame,
  decodeTensorFrame,
  encodeTensorFrameBytes,
  decodeTensorFrameBytes,
  parseLtp,
  compressTensor,
  dataFrame,
  verifyHeader,
  codecOf,
  LTP_MESSAGE_TYPES,
  DEFAULT_MAX_TENSOR_BYTES,
} from './frame';
export {
  splitIntoChunks,
  formatShapeTuple,
  parseShapeTuple,
  chunkPayloadSize,
  CHUNK_HEADROOM_BYTES,
  DEFAULT_MAX_CHUNK_SIZE,
} from './chunking';
export { Reassembler } from './reassembler';
export { createLtp, ackTopic } from './ltp';

export type { Tensor, TensorArrays, TensorData } from './tensor';
export type { ZstdFrameInfo } from './zstd-frames';
export type { EncodeTensorOptions, DecodeTensorOptions, DecodedTensor, CompressedTensor } from './frame';
export type {
  ReceivedTensor,
  ReassemblyReason,
  ReassemblyReport,
  ReassemblyStats,
  ReassemblerOptions,
  ReassemblerHooks,
} from './reassembler';
export type {
  Ltp,
  LtpOptions,
  PublishTensorOptions,
  PublishResult,
  LtpSubscribeOptions,
  LtpSubscription,
  LtpSenderStats,
} from './ltp';
