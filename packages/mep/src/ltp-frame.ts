// SPDX-License-Identifier: Apache-2.0
// MEP's view of LTP DATA frames, through @ecps/ltp: tensors are kept as raw little-endian C-order bytes (compact,
// and what the matrix is built from), decoded and validated per spec §3, and re-framed per §4.4 for results.
import { LTP_DTYPES, type LtpCodecName, type LtpDtype } from '@ecps/core';
import { decodeTensorFrame, encodeTensorFrame, tensorFromBytes, tensorToBytes } from '@ecps/ltp';
import type { LTP } from '@ecps/proto';

/** A tensor as MEP keeps it: raw little-endian C-order bytes plus dtype and shape. */
export interface RawTensor {
  readonly bytes: Uint8Array;
  readonly dtype: LtpDtype;
  readonly shape: readonly number[];
}

/** Decodes and validates an LTP DATA frame (spec §3). Throws the `ValidationError` of @ecps/ltp's decoder. */
export async function decodeRawTensor(frame: LTP): Promise<RawTensor> {
  const { tensor } = await decodeTensorFrame(frame);
  // copy: the decoded bytes may view a larger receive buffer that the store must not pin
  return { bytes: tensorToBytes(tensor).slice(), dtype: tensor.dtype, shape: [...tensor.shape] };
}

export interface FrameInit {
  frameId: string;
  timestampNs: bigint;
  attributes: Readonly<Record<string, string>>;
  /** Default zstd (what reference peers read); replication between our nodes uses `none`. */
  codec?: LtpCodecName;
}

/** A fresh single DATA frame (spec §4.4) carrying a stored tensor. */
export function encodeRawTensor(tensor: RawTensor, init: FrameInit): Promise<LTP> {
  return encodeTensorFrame(tensorFromBytes(tensor.dtype, tensor.shape, tensor.bytes), {
    frameId: init.frameId,
    timestampNs: init.timestampNs,
    attributes: init.attributes,
    ...(init.codec ? { codec: init.codec } : {}),
  });
}

/** Item size of a dtype in bytes. */
export function itemSize(dtype: LtpDtype): number {
  return LTP_DTYPES[dtype];
}
