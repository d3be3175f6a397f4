// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ProtectedEvent } from '@ecps/proto/ext/v1';
import { ProtectedEventScratch, encodeProtectedEvent } from './protected-event-writer';

const text = fc.string({ unit: 'binary', maxLength: 40 }); // any code points, lone surrogates included
const message = fc.record({
  id: text,
  source: text,
  type: text,
  time: text,
  datacontenttype: text,
  extensions: fc.dictionary(text, text, { maxKeys: 4 }),
  data: fc.uint8Array({ maxLength: 300 }),
  senderId: text,
  timestampNs: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  nonce: fc.uint8Array({ maxLength: 20 }),
  destination: text,
  delegations: fc.constant<ProtectedEvent['delegations']>([]),
});

describe('encodeProtectedEvent', () => {
  it('writes exactly the bytes of the generated encoder', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(Buffer.from(encodeProtectedEvent(m))).toEqual(Buffer.from(ProtectedEvent.encode(m).finish()));
      }),
      { numRuns: 200 },
    );
  });

  it('handles the edges of varints and of uint64 like the generated encoder', () => {
    const base = ProtectedEvent.fromPartial({ id: 'x' });
    for (const timestampNs of [0n, 1n, 127n, 128n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 35n, 2n ** 63n, 2n ** 64n - 1n]) {
      const m = { ...base, timestampNs, data: new Uint8Array(200) };
      expect(Buffer.from(encodeProtectedEvent(m))).toEqual(Buffer.from(ProtectedEvent.encode(m).finish()));
    }
    expect(() => encodeProtectedEvent({ ...base, timestampNs: 2n ** 64n })).toThrow(/too large/);
    expect(encodeProtectedEvent(ProtectedEvent.fromPartial({}))).toHaveLength(0);
  });

  it('hands messages with delegations to the generated encoder', () => {
    const m = ProtectedEvent.fromPartial({ id: 'x', delegations: [{ delegator: 'a', delegate: 'b', permissions: ['p'], notAfterNs: 5n, keyId: 'k', signature: new Uint8Array([1]) }] });
    expect(Buffer.from(encodeProtectedEvent(m))).toEqual(Buffer.from(ProtectedEvent.encode(m).finish()));
  });
});

describe('ProtectedEventScratch', () => {
  it('encodes one message or a batch (marker, then u32 length and message each) as the generated encoder does, in reused memory', () => {
    const scratch = new ProtectedEventScratch();
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 5 }), (messages) => {
        const generated = messages.map((m) => Buffer.from(ProtectedEvent.encode(m).finish()));
        expect(Buffer.from(scratch.one(messages[0]!))).toEqual(generated[0]);
        const expected = Buffer.concat([Buffer.of(7), ...generated.flatMap((g) => [u32(g.length), g])]);
        expect(Buffer.from(scratch.batch(messages, 7, expected.length)!)).toEqual(expected);
        expect(scratch.batch(messages, 7, expected.length - 1)).toBeUndefined();
      }),
      { numRuns: 100 },
    );
  });

  it('gives a plaintext larger than the memory it keeps memory of its own', () => {
    const scratch = new ProtectedEventScratch();
    const big = ProtectedEvent.fromPartial({ id: 'x', data: new Uint8Array(100_000).fill(3) });
    const first = scratch.one(big);
    const second = scratch.one({ ...big, id: 'y' });
    expect(first.buffer).not.toBe(second.buffer);
    expect(Buffer.from(first)).toEqual(Buffer.from(ProtectedEvent.encode(big).finish()));
  });
});

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}
