// SPDX-License-Identifier: Apache-2.0
// WAV files in and out, and resampling to the 16 kHz the speech providers take.
import { ApiError } from '../errors';

/** Samples (mono, 16-bit) and rate of a PCM WAV file. Throws `ApiError` `validation_error` for anything else. */
export function parseWav(bytes: Uint8Array): { samples: Int16Array; sampleRateHz: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || text(0) !== 'RIFF' || text(8) !== 'WAVE') throw new ApiError('validation_error', 'not a RIFF/WAVE file');
  let rate = 0;
  let format = 0;
  let channels = 0;
  let bits = 0;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = text(at);
    const size = view.getUint32(at + 4, true);
    if (id === 'fmt ') {
      format = view.getUint16(at + 8, true);
      channels = view.getUint16(at + 10, true);
      rate = view.getUint32(at + 12, true);
      bits = view.getUint16(at + 22, true);
    } else if (id === 'data') {
      if (format !== 1 || channels !== 1 || bits !== 16) throw new ApiError('validation_error', 'only 16-bit mono PCM WAV is supported');
      const end = Math.min(bytes.length, at + 8 + size);
      const data = bytes.slice(at + 8, end - ((end - at - 8) % 2));
      return { samples: new Int16Array(data.buffer, data.byteOffset, data.byteLength / 2), sampleRateHz: rate };
    }
    at += 8 + size + (size % 2);
  }
  throw new ApiError('validation_error', 'WAV file without a data chunk');
}

/** A 16-bit mono PCM WAV file. */
export function encodeWav(samples: Int16Array, sampleRateHz: number): Uint8Array {
  const out = new Uint8Array(44 + samples.byteLength);
  const view = new DataView(out.buffer);
  const put = (at: number, s: string) => [...s].forEach((c, i) => (out[at + i] = c.charCodeAt(0)));
  put(0, 'RIFF');
  view.setUint32(4, 36 + samples.byteLength, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRateHz, true);
  view.setUint32(28, sampleRateHz * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  put(36, 'data');
  view.setUint32(40, samples.byteLength, true);
  out.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength), 44);
  return out;
}

/** Resamples to 16 kHz with a Hann-windowed sinc low-pass (cut-off 0.9 × 8 kHz), so nothing above Nyquist aliases. */
export function resampleTo16k(samples: Int16Array, fromHz: number): Int16Array {
  if (fromHz === 16_000) return samples;
  const ratio = fromHz / 16_000;
  const out = new Int16Array(Math.floor(samples.length / ratio));
  const cutoff = (0.45 * 16_000) / fromHz;
  const half = 24;
  for (let i = 0; i < out.length; i++) {
    const center = i * ratio;
    const base = Math.floor(center);
    let acc = 0;
    for (let k = base - half + 1; k <= base + half; k++) {
      if (k < 0 || k >= samples.length) continue;
      const x = center - k;
      const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
      acc += samples[k]! * sinc * (0.5 + 0.5 * Math.cos((Math.PI * x) / half));
    }
    out[i] = Math.max(-32768, Math.min(32767, Math.round(acc)));
  }
  return out;
}
