// SPDX-License-Identifier: Apache-2.0
// Fuzz targets of session mode: a session message through the whole receive check of the secure transport
// (record layout, session lookup, replay window, AES-GCM, inner ProtectedEvent, sender binding), and the first
// handshake message a responder gets from the network.
import { describe, expect, it } from '@jest/globals';
import { nodeSource, type EcpsEvent, type RandomSource } from '@ecps/core';
import { loadCorpus, runFuzzTarget, type FuzzTarget } from '@ecps/testkit/fuzz';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { trustBehaviour } from '../src/levels';
import { Protector } from '../src/protect';
import { ReplayGuard } from '../src/replay-guard';
import { createHandshakeInit, respondToHandshake } from '../src/session-handshake';
import { SESSION_EVENT_TYPE, SessionManager, SessionReplayScope } from '../src/session-manager';
import { corpusDir, expectClean, expectGenuine, fuzzClock, fuzzIdentities, fuzzTimeout, isTypedRefusal } from './fuzz-fixtures';

const clock = fuzzClock();
const sent = [new TextEncoder().encode('grip 0.4'), new Uint8Array(300).fill(0x5a), new Uint8Array(0)];

/** Deterministic "randomness": seeds are the same bytes on every run. */
function counting(): RandomSource {
  let n = 0;
  return { bytes: (length: number) => new Uint8Array(length).fill(++n & 0xff), float: () => 0.5, int: (max: number) => n % max };
}

async function recordTarget(): Promise<FuzzTarget> {
  const { keys, planner, arm } = await fuzzIdentities(clock);
  const bus = new MemoryBus();
  const behaviour = trustBehaviour(2);
  const sessions = {
    planner: new SessionManager({ selfId: 'planner', signer: planner, keys, session: {}, clock, random: counting() }),
    arm: new SessionManager({ selfId: 'arm', signer: arm, keys, session: {}, clock, random: counting() }),
  };
  await sessions.planner.start(memoryTransport({ nodeId: 'planner', bus }));
  await sessions.arm.start(memoryTransport({ nodeId: 'arm', bus }));
  await sessions.planner.handshake('arm');
  const sender = new Protector({ senderId: 'planner', signer: planner, keys, behaviour, session: sessions.planner, clock });
  const receiver = new Protector({ senderId: 'arm', signer: arm, keys, behaviour, session: sessions.arm, clock });
  const event = (data: Uint8Array): EcpsEvent => ({ id: 'e-1', source: nodeSource('planner'), type: 'ecps.eap.action', data });
  const seeds: Uint8Array[] = [];
  for (const data of sent) seeds.push((await sender.protect(event(data), 'eap')).data);
  const name = 'trust-session-record';
  return {
    name,
    seeds: [...seeds, ...loadCorpus(corpusDir(name))],
    isExpected: isTypedRefusal,
    async run(input) {
      const scope = new SessionReplayScope();
      const opened = await receiver.unprotect({ id: 'e-1', source: nodeSource('planner'), type: SESSION_EVENT_TYPE, data: input }, 'eap', new ReplayGuard({ clock }), scope);
      expectGenuine(opened.senderId === 'planner' && opened.principalId === 'planner', `accepted a message from ${opened.senderId}`);
      expectGenuine(sent.some((d) => Buffer.from(d).equals(Buffer.from(opened.event.data))), 'accepted data the sender never sent');
    },
  };
}

async function handshakeTarget(): Promise<FuzzTarget> {
  const { keys, planner, arm } = await fuzzIdentities(clock);
  const random = counting();
  const seeds = [(await createHandshakeInit('planner', 'arm', planner, clock, random)).init, (await createHandshakeInit('arm', 'planner', arm, clock, random)).init];
  const name = 'trust-session-handshake';
  return {
    name,
    seeds: [...seeds, ...loadCorpus(corpusDir(name))],
    isExpected: isTypedRefusal,
    async run(input) {
      const answered = await respondToHandshake(input, 'arm', arm, keys, new ReplayGuard({ clock }), random);
      expectGenuine(answered.keys.peerId === 'planner' && answered.keys.peerKeyId === 'planner-k', `answered a handshake from ${answered.keys.peerId}`);
    },
  };
}

describe('fuzz: session mode', () => {
  it('session record: only typed refusals, and nothing accepted that the sender did not send', async () => {
    expectClean(await runFuzzTarget(await recordTarget()));
  }, fuzzTimeout());

  it('first handshake message: only typed refusals, and only the enrolled initiator answered', async () => {
    const report = await runFuzzTarget(await handshakeTarget());
    expectClean(report);
    expect(report.iterations).toBeGreaterThan(1);
  }, fuzzTimeout());
});
