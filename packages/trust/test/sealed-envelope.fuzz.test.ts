// SPDX-License-Identifier: Apache-2.0
// Fuzz targets: the SealedEnvelope and SignedEnvelope a receiver gets from the network, through the whole check
// of the secure transport (decode, signature, key agreement, AES-GCM, inner ProtectedEvent, sender binding).
import { describe, expect, it } from '@jest/globals';
import type { EcpsEvent } from '@ecps/core';
import { loadCorpus, runFuzzTarget, type FuzzTarget } from '@ecps/testkit/fuzz';
import { trustBehaviour } from '../src/levels';
import { Protector, SIGNED_EVENT_TYPE } from '../src/protect';
import { ReplayGuard } from '../src/replay-guard';
import { SEALED_EVENT_TYPE } from '../src/sealed-envelope';
import { corpusDir, expectClean, expectGenuine, fuzzClock, fuzzIdentities, fuzzTimeout, isTypedRefusal } from './fuzz-fixtures';

const clock = fuzzClock();
const sent = [new TextEncoder().encode('grip 0.4'), new Uint8Array(300).fill(0x5a), new Uint8Array(0)];

async function target(kind: 'sealed' | 'signed'): Promise<FuzzTarget> {
  const { keys, planner, fleet, fleetPublicKey } = await fuzzIdentities(clock);
  const sealing = { recipient: { keyId: 'fleet-2026', algorithm: 'x25519' as const, publicKey: fleetPublicKey }, provider: fleet };
  const behaviour = trustBehaviour(2, kind === 'sealed');
  let n = 0;
  const random = { bytes: (length: number) => new Uint8Array(length).fill(++n), float: () => 0.5, int: (max: number) => n % max };
  const sender = new Protector({ senderId: 'planner', signer: planner, keys, sealing, behaviour, clock, random });
  const receiver = new Protector({ senderId: 'arm', signer: planner, keys, sealing, behaviour, clock });
  const type = kind === 'sealed' ? SEALED_EVENT_TYPE : SIGNED_EVENT_TYPE;
  const event = (data: Uint8Array): EcpsEvent => ({ id: 'e-1', source: 'urn:ecps:planner', type: 'ecps.eap.action', data });
  const seeds: Uint8Array[] = [];
  for (const data of sent) seeds.push((await sender.protect(event(data), 'eap')).data);
  const name = `trust-${kind}-envelope`;
  return {
    name,
    seeds: [...seeds, ...loadCorpus(corpusDir(name))],
    isExpected: isTypedRefusal,
    async run(input) {
      const opened = await receiver.unprotect({ id: 'e-1', source: 'urn:ecps:planner', type, data: input }, 'eap', new ReplayGuard({ clock }));
      // anything accepted must be exactly what the genuine sender sent, from the sender it names
      expectGenuine(opened.senderId === 'planner' && opened.principalId === 'planner', `accepted a message from ${opened.senderId}`);
      expectGenuine(sent.some((d) => Buffer.from(d).equals(Buffer.from(opened.event.data))), 'accepted data the sender never sent');
    },
  };
}

describe('fuzz: SealedEnvelope and SignedEnvelope', () => {
  for (const kind of ['sealed', 'signed'] as const) {
    it(`${kind}: only typed refusals, and nothing accepted that the sender did not send`, async () => {
      expectClean(await runFuzzTarget(await target(kind)));
    }, fuzzTimeout());
  }
});
