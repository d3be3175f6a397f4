// SPDX-License-Identifier: Apache-2.0
// Injectable randomness: ids, nonces, jitter and elections draw from a RandomSource.
import { randomBytes } from 'node:crypto';

export interface RandomSource {
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
  /** A float in [0, 1). */
  float(): number;
  /** An integer in [0, max). */
  int(max: number): number;
}

/** Cryptographically secure randomness from node:crypto. */
export const cryptoRandom: RandomSource = {
  bytes: (n) => new Uint8Array(randomBytes(n)),
  float: () => randomBytes(4).readUInt32LE(0) / 2 ** 32,
  int: (max) => Math.floor((randomBytes(4).readUInt32LE(0) / 2 ** 32) * max),
};

/**
 * A deterministic source (xoshiro128**) for tests and simulations: the same seed gives the same sequence.
 * Not for keys or nonces in production.
 */
export function seededRandom(seed: number): RandomSource {
  // splitmix32 expands the seed into four state words
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const st = [split(), split(), split(), split()] as [number, number, number, number];
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(st[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (st[1] << 9) >>> 0;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 11);
    return result;
  };
  return {
    bytes(n) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        const v = next();
        for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
      }
      return out;
    },
    float: () => next() / 2 ** 32,
    int: (max) => Math.floor((next() / 2 ** 32) * max),
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
