// SPDX-License-Identifier: Apache-2.0
// The sync-state discipline (spec §6.3): state is committed only after a successful send, so a failed send is
// retried with the same changes; local changes are coalesced by the per-(peer, doc) cooldown.
import { describe, expect, it } from '@jest/globals';
import * as A from '@automerge/automerge';
import { PeatError } from '../errors';
import { FrameType } from '../frame';
import type { Frame } from '../frame';
import { VirtualClock } from '../sim/virtual-clock';
import { DocumentStore } from '../store/document-store';
import type { PeatTransport } from '../transport/types';
import { SyncEngine } from './sync-engine';

/** A transport to one peer, played by a bare Automerge document that answers every sync message. */
function fakeTransport(clock: VirtualClock) {
  const sent: Frame[] = [];
  // sends to let through before failing one (-1: none fails)
  let failAfter = -1;
  let up: (p: string) => void = () => undefined;
  let deliver: (peer: string, frame: Frame) => void = () => undefined;
  let peerDoc = A.init<Record<string, unknown>>({ actor: 'cd'.repeat(20) });
  let peerState = A.initSyncState();
  const t: PeatTransport & { sent: Frame[]; failAfter(n: number): void; connect(p: string): void; peerValue(): unknown } = {
    peerValue: () => A.toJS(peerDoc),
    nodeId: 'me',
    sent,
    failAfter: (n) => void (failAfter = n),
    connect: (p) => up(p),
    start: async () => undefined,
    stop: async () => undefined,
    async send(_peer, frame) {
      if (failAfter === 0) {
        failAfter = -1;
        throw new PeatError('UNAVAILABLE', 'link down');
      }
      if (failAfter > 0) failAfter--;
      sent.push(frame);
      if (frame.type !== FrameType.DeltaSync) return;
      [peerDoc, peerState] = A.receiveSyncMessage(peerDoc, peerState, frame.payload);
      const [next, reply] = A.generateSyncMessage(peerDoc, peerState);
      peerState = next;
      // answers 1 ms later in simulated time, so an endless exchange ends with the test's time budget
      if (reply) clock.setTimeout(() => deliver('peer', { key: frame.key, type: FrameType.DeltaSync, payload: reply }), 1);
    },
    broadcast: async () => undefined,
    onFrame: (h) => void (deliver = h),
    onPeerUp: (h) => void (up = h),
    onPeerDown: () => undefined,
    peers: () => ['peer'],
  };
  return t;
}

async function setup() {
  const clock = new VirtualClock(0);
  const store = await DocumentStore.open({ actorId: 'ab'.repeat(20), nodeId: 'me', clock });
  const transport = fakeTransport(clock);
  const engine = new SyncEngine({ store, transport, clock });
  engine.start();
  await clock.run(() => false, 10);
  return { clock, store, transport, engine };
}

const deltas = (frames: Frame[]) => frames.filter((f) => f.type === FrameType.DeltaSync);

describe('SyncEngine', () => {
  it('a failed send is counted and the change still reaches the peer', async () => {
    const { clock, store, transport, engine } = await setup();
    await store.put('events', 'e', { v: 1 });
    await clock.run(() => (transport.peerValue() as { v?: number }).v === 1, 1_000);
    transport.failAfter(0);
    await store.put('events', 'e', { v: 2 });
    await store.put('events', 'e', { v: 3 });
    expect(await clock.run(() => (transport.peerValue() as { v?: number }).v === 3, 10_000)).toBe(true);
    expect(engine.stats.sendFailures).toBe(1);
  });

  it('coalesces a burst of local changes into one message per cooldown', async () => {
    const { clock, store, transport } = await setup();
    await store.put('events', 'e', { v: 0 });
    await clock.run(() => (transport.peerValue() as { v?: number }).v === 0, 1_000);
    const before = deltas(transport.sent).length;
    for (let i = 1; i <= 20; i++) await store.put('events', 'e', { v: i });
    await clock.run(() => (transport.peerValue() as { v?: number }).v === 20, 1_000);
    // twenty writes within one cooldown: one message carries them, plus the protocol's closing exchange
    expect(deltas(transport.sent).length - before).toBeLessThanOrEqual(2);
  });
});
