// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { MessageType, buildEnvelope, encodeToBuffer } from '../src/index';
import { DeliveryAckRequest, SendMessageRequest } from '../src/gen/router';

const encodedFresh = (v: SendMessageRequest) => Buffer.from(SendMessageRequest.encode(v).finish());

describe('encodeToBuffer (one shared writer)', () => {
  it('gives the bytes of a fresh writer, each result its own memory, whatever was encoded before', () => {
    const messages = [10, 3000, 0, 200_000, 5].map((n) => SendMessageRequest.create({ msg: buildEnvelope({ producerId: 'p', messageType: MessageType.DATA, payload: new Uint8Array(n).fill(n % 251) }) }));
    const results = messages.map((m) => encodeToBuffer(SendMessageRequest, m));
    for (const [i, m] of messages.entries()) expect(results[i]!.equals(encodedFresh(m))).toBe(true);
    expect(new Set(results.map((b) => b.buffer)).size).toBe(results.length);
  });

  it('a message that fails to encode leaves nothing behind for the next one', () => {
    const bad = DeliveryAckRequest.create({ agentId: 'c', messageId: 'm', seq: 1n });
    (bad as { outcome: number }).outcome = 2 ** 40; // not an int32: the writer throws halfway through the message
    expect(() => encodeToBuffer(DeliveryAckRequest, bad)).toThrow();
    const good = DeliveryAckRequest.create({ agentId: 'c', messageId: 'm', seq: 7n });
    expect(encodeToBuffer(DeliveryAckRequest, good).equals(Buffer.from(DeliveryAckRequest.encode(good).finish()))).toBe(true);
  });
});
