// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { decodeNodeMessage, encodeNodeMessage } from '../src/medium';

describe('node messages on a transport', () => {
  it('round-trip; anything that is not JSON or not a known kind is refused', () => {
    const m = { kind: 'disband', cell_id: 'c' } as const;
    expect(decodeNodeMessage(encodeNodeMessage(m))).toEqual(m);
    for (const bad of ['{', 'null', '42', '{"kind":"steal"}', '{"kind":7}', '[]']) expect(decodeNodeMessage(new TextEncoder().encode(bad))).toBeUndefined();
  });
});
