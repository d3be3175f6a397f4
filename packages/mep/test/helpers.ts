// SPDX-License-Identifier: Apache-2.0
import type { LTP, QueryReq } from '@ecps/proto';
import { encodeTensorFrame } from '../src/ltp-frame';

/** An f64 LTP frame of `values` (1-D), optionally keyed by `mep_id`. */
export function f64Frame(values: readonly number[], key?: string, frameId = 'emb'): LTP {
  const bytes = new Uint8Array(new Float64Array(values).buffer);
  return encodeTensorFrame({
    tensor: { bytes, dtype: 'f64', shape: [values.length] },
    frameId,
    timestampNs: 1_700_000_000_000_000_000n,
    attributes: key === undefined ? {} : { mep_id: key },
  });
}

export function f32Frame(values: readonly number[], key?: string): LTP {
  const bytes = new Uint8Array(new Float32Array(values).buffer);
  return encodeTensorFrame({
    tensor: { bytes, dtype: 'f32', shape: [values.length] },
    frameId: 'emb',
    timestampNs: 1n,
    attributes: key === undefined ? {} : { mep_id: key },
  });
}

export function queryOf(values: readonly number[], k = 0, minSim = 0): QueryReq {
  return { queryEmbedding: f64Frame(values), k, minSim };
}
