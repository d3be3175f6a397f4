// SPDX-License-Identifier: Apache-2.0
// The Protector's own bookkeeping: the protobuf writer it reuses between messages and the outer event time.
import { describe, expect, it } from '@jest/globals';
import { ManualClock, type EcpsEvent } from '@ecps/core';
import type { Delegation } from '@ecps/proto/ext/v1';
import { IdentitySigner } from './identity';
import { KeyDirectory } from './key-directory';
import { trustBehaviour } from './levels';
import { Protector } from './protect';
import { ReplayGuard } from './replay-guard';
import { SoftwareKeyProvider } from './software-key-provider';

async function pair(clock: ManualClock): Promise<{ sender: Protector; receiver: Protector }> {
  const provider = new SoftwareKeyProvider();
  await provider.generateKey('planner-k', 'ed25519');
  const signer = new IdentitySigner({ id: 'planner', keyId: 'planner-k', provider });
  const keys = new KeyDirectory({ keys: [await signer.trustedKey()], clock });
  const behaviour = trustBehaviour(2, false); // AUTHENTICATED, signed and not sealed
  return { sender: new Protector({ senderId: 'planner', signer, keys, behaviour, clock }), receiver: new Protector({ senderId: 'arm', signer, keys, behaviour, clock }) };
}

const event = (id: string, data: Uint8Array): EcpsEvent => ({ id, source: 'urn:ecps:planner', type: 'ecps.eap.action', data });

describe('Protector', () => {
  it('encodes correctly after an encoding failed half-way (the reused writer is not left with stale bytes)', async () => {
    const clock = new ManualClock(Date.now());
    const { sender, receiver } = await pair(clock);
    const broken = { delegator: 'x', delegate: 'planner', permissions: [], notAfterNs: 1.5, keyId: 'k', alg: 'Ed25519', signature: new Uint8Array(64) } as unknown as Delegation;
    expect(() => sender.protect(event('bad', Uint8Array.of(9)), 'eap', [broken])).toThrow();
    const guard = new ReplayGuard({ clock });
    for (const [id, data] of [['small', Uint8Array.of(1, 2, 3)], ['large', new Uint8Array(100_000).fill(7)], ['after-large', Uint8Array.of(4)]] as const) {
      const opened = await receiver.unprotect(await sender.protect(event(id, data), 'eap'), 'eap', guard);
      expect(opened.event.id).toBe(id);
      expect(Buffer.from(opened.event.data).equals(Buffer.from(data))).toBe(true);
    }
  });

  it('stamps an event without a time with the clock, formatted again when the clock moves', async () => {
    const clock = new ManualClock(Date.parse('2026-03-01T00:00:00.000Z'));
    const { sender } = await pair(clock);
    const first = await sender.protect(event('a', Uint8Array.of(1)), 'eap');
    const same = await sender.protect(event('b', Uint8Array.of(1)), 'eap');
    clock.advance(5);
    const later = await sender.protect(event('c', Uint8Array.of(1)), 'eap');
    expect([first.time, same.time, later.time]).toEqual(['2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.005Z']);
    expect((await sender.protect({ ...event('d', Uint8Array.of(1)), time: '2020-01-01T00:00:00Z' }, 'eap')).time).toBe('2020-01-01T00:00:00Z');
  });
});
