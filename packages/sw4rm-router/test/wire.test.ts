// SPDX-License-Identifier: Apache-2.0
// The hand-encoded StreamItem is what a protobuf decoder reads: the envelope bytes untouched and the seq.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { encodeStreamItem } from '../src/index';

describe('encodeStreamItem', () => {
  it('equals a protobuf writer’s encoding for any envelope bytes and any positive int64 seq', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }), (envelope, seq) => {
        const expected = new BinaryWriter().uint32(10).bytes(envelope).uint32(16).int64(seq).finish();
        expect(Buffer.from(encodeStreamItem(envelope, seq)).equals(Buffer.from(expected))).toBe(true);
      }),
    );
  });
});
