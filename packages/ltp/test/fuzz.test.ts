// SPDX-License-Identifier: Apache-2.0
// Fuzz target: random and mutated DATA frames and chunks through the decoder and the reassembler for a bounded
// time (LTP_FUZZ_MS, default 3 s; `pnpm fuzz` runs it for a minute). Every failure must be a typed ECPS error,
// and the reassembler must keep its memory bound.
import { describe, expect, it } from '@jest/globals';
import { isEcpsError, seededRandom } from '@ecps/core';
import { LTPChunk } from '@ecps/proto';
import { Reassembler, decodeTensorFrameBytes } from '../src/index';
import { corpus, expectTyped, mutate, mutatePayload } from './hostile';

const budgetMs = Number(process.env['LTP_FUZZ_MS'] ?? 3000);
const seed = Number(process.env['LTP_FUZZ_SEED'] ?? Date.now() % 2 ** 31);

describe(`fuzz (seed ${seed}, ${budgetMs} ms)`, () => {
  it('never throws an untyped error and never exceeds the buffer bound', async () => {
    const random = seededRandom(seed);
    const rng = { int: (max: number) => random.int(Math.max(max, 1)) };
    const { frames, chunks } = await corpus();
    const maxBufferedBytes = 64 * 1024;
    let untyped: unknown;
    const reassembler = new Reassembler(
      { onTensor: () => undefined, onDiscard: (e) => void (isEcpsError(e) ? undefined : (untyped ??= e)) },
      { maxBufferedBytes, maxChunkSize: 64 * 1024 },
    );
    const deadline = Date.now() + budgetMs;
    let runs = 0;
    while (Date.now() < deadline) {
      runs++;
      const pick = rng.int(3);
      if (pick === 0) {
        await decodeTensorFrameBytes(mutate(frames[rng.int(frames.length)]!, rng)).catch(expectTyped);
      } else if (pick === 1) {
        await decodeTensorFrameBytes(mutatePayload(frames[rng.int(frames.length)]!, rng)).catch(expectTyped);
      } else {
        const bytes = rng.int(4) === 0 ? mutate(chunks[rng.int(chunks.length)]!, rng) : chunks[rng.int(chunks.length)]!;
        let chunk: LTPChunk;
        try {
          chunk = LTPChunk.decode(bytes);
        } catch {
          continue;
        }
        await reassembler.accept(chunk, `urn:ecps:s${rng.int(3)}`, 't');
        expect(reassembler.stats().bufferedBytes).toBeLessThanOrEqual(maxBufferedBytes);
      }
    }
    reassembler.close();
    expect(untyped).toBeUndefined();
    expect(runs).toBeGreaterThan(10);
  }, budgetMs + 30_000);
});
