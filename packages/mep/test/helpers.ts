// SPDX-License-Identifier: Apache-2.0
import { createTensor, encodeTensorFrame } from '@ecps/ltp';
import type { LTP, QueryReq } from '@ecps/proto';

/** An f64 LTP frame of `values` (1-D), optionally keyed by `mep_id`. */
export function f64Frame(values: readonly number[], key?: string, frameId = 'emb'): Promise<LTP> {
  return encodeTensorFrame(createTensor('f64', [values.length], Float64Array.from(values)), {
    frameId,
    timestampNs: 1_700_000_000_000_000_000n,
    attributes: key === undefined ? {} : { mep_id: key },
  });
}

export function f32Frame(values: readonly number[], key?: string): Promise<LTP> {
  return encodeTensorFrame(createTensor('f32', [values.length], Float32Array.from(values)), {
    frameId: 'emb',
    timestampNs: 1n,
    attributes: key === undefined ? {} : { mep_id: key },
  });
}

export async function queryOf(values: readonly number[], k = 0, minSim = 0): Promise<QueryReq> {
  return { queryEmbedding: await f64Frame(values), k, minSim };
}
