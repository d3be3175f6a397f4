// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ProtectedEvent } from '@ecps/proto/ext/v1';
import { decodeProtectedEvent } from './protected-event-reader';

const text = fc.string({ unit: 'binary', maxLength: 70 }); // any code points, lone surrogates included
const message = fc.record({
  id: text,
  source: fc.constantFrom('urn:ecps:node:a', 'urn:ecps:node:b', ''),
  type: text,
  time: text,
  datacontenttype: text,
  extensions: fc.dictionary(text, text, { maxKeys: 2 }),
  data: fc.uint8Array({ maxLength: 300 }),
  senderId: fc.constantFrom('a', 'b', 'ü'),
  timestampNs: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  nonce: fc.uint8Array({ maxLength: 20 }),
  destination: text,
  delegations: fc.constant<ProtectedEvent['delegations']>([]),
});

const plain = (m: ProtectedEvent) => ({ ...m, data: Buffer.from(m.data), nonce: Buffer.from(m.nonce) });

describe('decodeProtectedEvent', () => {
  it('reads what the generated decoder reads, one message after another (its per-field caches)', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), (messages) => {
        for (const m of messages) {
          const bytes = ProtectedEvent.encode(m).finish();
          expect(plain(decodeProtectedEvent(bytes))).toEqual(plain(ProtectedEvent.decode(bytes)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reads any bytes as the generated decoder does, or fails as it does', () => {
    const outcome = (f: () => ProtectedEvent) => {
      try {
        return { ok: plain(f()) };
      } catch (error) {
        return { error: String(error) };
      }
    };
    const bytes = ProtectedEvent.encode(ProtectedEvent.fromPartial({ id: 'x', source: 's', data: new Uint8Array(5), senderId: 'a', timestampNs: 123_456_789_000n, destination: 't' })).finish();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.nat(bytes.length), (noise, cut) => {
        for (const input of [noise, Uint8Array.from([...bytes.subarray(0, cut), ...noise]), bytes.subarray(0, cut)]) {
          expect(outcome(() => decodeProtectedEvent(input))).toEqual(outcome(() => ProtectedEvent.decode(input)));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('reads uint64 timestamps at the edges, and messages with delegations, as the generated decoder', () => {
    for (const timestampNs of [0n, 1n, 127n, 128n, 2n ** 28n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 35n, 2n ** 56n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n]) {
      const bytes = ProtectedEvent.encode(ProtectedEvent.fromPartial({ id: 'x', timestampNs })).finish();
      expect(decodeProtectedEvent(bytes).timestampNs).toBe(timestampNs);
    }
    const m = ProtectedEvent.fromPartial({ id: 'x', delegations: [{ delegator: 'a', delegate: 'b', permissions: ['p'], notAfterNs: 5n, keyId: 'k', signature: new Uint8Array([1]) }] });
    const bytes = ProtectedEvent.encode(m).finish();
    expect(decodeProtectedEvent(bytes)).toEqual(ProtectedEvent.decode(bytes));
  });
});
