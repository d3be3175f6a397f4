// SPDX-License-Identifier: Apache-2.0
// The handshake race: the responder counts the initiator as a peer as soon as it sends its accepting Result, so its
// first frames (the sync engine's digests) can reach the initiator before that Result does. Such a frame comes from
// a peer the initiator has already verified, and is held until the Result arrives; frames from peers that proved
// nothing are still refused. Each test steers the race with a link that delays or drops chosen handshake steps.
import { afterEach, describe, expect, it } from '@jest/globals';
import { seededRandom } from '@ecps/core';
import type { RandomSource } from '@ecps/core';
import { SoftwareKeyProvider } from '@ecps/trust';
import { FrameType, encodeFrame } from '../src/frame';
import type { Frame } from '../src/frame';
import { PeatReplica } from '../src/replica';
import { HandshakeStep, MutualHandshake } from '../src/security/handshake';
import { identityFromKeyProvider } from '../src/security/identity';
import type { NodeIdentity } from '../src/security/identity';
import { VirtualClock } from '../src/sim/virtual-clock';
import { MemoryNetwork } from '../src/transport/memory-link';
import { LinkKind, meshTransport } from '../src/transport/mesh-transport';
import type { MeshTransport, MeshTransportOptions } from '../src/transport/mesh-transport';
import type { PeatLink } from '../src/transport/types';
import { SECRET } from './harness';

/** What a {@link SteeredLink} does with one outgoing message: send it now, later, or never. */
type Steer = 'now' | 'drop' | number;

/** A link that applies `steer` to each message it sends, and can inject raw bytes under its own node id. */
class SteeredLink implements PeatLink {
  constructor(
    private readonly inner: PeatLink,
    private readonly clock: VirtualClock,
    public steer: (data: Uint8Array) => Steer,
  ) {}
  get nodeId(): string {
    return this.inner.nodeId;
  }
  get maxMessageBytes(): number {
    return this.inner.maxMessageBytes;
  }
  start: PeatLink['start'] = (handler) => this.inner.start(handler);
  stop: PeatLink['stop'] = () => this.inner.stop();
  broadcast: PeatLink['broadcast'] = async (data, scope) => {
    if (this.steer(data) !== 'drop') await this.inner.broadcast(data, scope);
  };
  async send(to: string, data: Uint8Array): Promise<void> {
    const how = this.steer(data);
    if (how === 'drop') return;
    if (how === 'now') return this.inner.send(to, data);
    this.clock.setTimeout(() => void this.inner.send(to, data).catch(() => undefined), how);
  }
  /** Sends bytes as this node, past the transport (what an attacker on the link could do). */
  inject(to: string, data: Uint8Array): Promise<void> {
    return this.inner.send(to, data);
  }
}

const isStep = (data: Uint8Array, step: number): boolean => data[0] === LinkKind.Handshake && data[1] === step;
const app = (text: string): Frame => ({ key: 'app', type: FrameType.Application, payload: new TextEncoder().encode(text) });
const text = (f: Frame): string => new TextDecoder().decode(f.payload);

interface Pair {
  readonly clock: VirtualClock;
  /** The lower node id: it sends Hello and learns it was accepted from the Result. */
  readonly initiator: MeshTransport;
  /** The higher node id: it accepts the Response, sends the Result and counts the initiator as a peer at once. */
  readonly responder: MeshTransport;
  /** The responder's outgoing link. */
  readonly steered: SteeredLink;
  readonly identities: { initiator: NodeIdentity; responder: NodeIdentity };
  readonly random: (i: number) => RandomSource;
}

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop();
});

/** Two nodes on a network with a fixed 2 ms latency; the responder's sends go through `steer`. */
async function pair(steer: (data: Uint8Array) => Steer, options: Partial<MeshTransportOptions> = {}, secure = true): Promise<Pair> {
  const clock = new VirtualClock();
  const network = new MemoryNetwork({ clock, minLatencyMs: 2, maxLatencyMs: 2 });
  const keys = new SoftwareKeyProvider();
  const ids: NodeIdentity[] = [];
  for (const name of ['a', 'b']) {
    await keys.generateKey(name, 'ed25519');
    ids.push(await identityFromKeyProvider(keys, name));
  }
  ids.sort((x, y) => (x.nodeId < y.nodeId ? -1 : 1));
  const [low, high] = ids as [NodeIdentity, NodeIdentity];
  const random = (i: number): RandomSource => seededRandom(40 + i);
  const transport = (identity: NodeIdentity, link: PeatLink, i: number): MeshTransport =>
    meshTransport({
      link,
      clock,
      random: random(i),
      ...(secure ? { handshake: new MutualHandshake({ formationId: 'race', formationSecret: SECRET, identity, clock, random: random(10 + i) }) } : {}),
      ...options,
    });
  const steered = new SteeredLink(network.link(high.nodeId), clock, steer);
  return { clock, initiator: transport(low, network.link(low.nodeId), 0), responder: transport(high, steered, 1), steered, identities: { initiator: low, responder: high }, random };
}

/** Starts both, and has the responder send `frames` to the initiator the moment it counts it as a peer. */
async function startWithGreeting(p: Pair, frames: readonly Frame[]): Promise<string[]> {
  const heard: string[] = [];
  p.initiator.onFrame((_from, f) => heard.push(text(f)));
  p.responder.onPeerUp((peer) => {
    for (const f of frames) void p.responder.send(peer, f).catch(() => undefined);
  });
  for (const t of [p.initiator, p.responder]) {
    await t.start();
    started.push(t);
  }
  return heard;
}

describe('mesh transport: frames that overtake the handshake Result', () => {
  it('a frame sent by the responder as soon as it accepts, arriving before the Result, is delivered once the Result arrives', async () => {
    const p = await pair((d) => (isStep(d, HandshakeStep.Result) ? 20 : 'now'));
    const heard = await startWithGreeting(p, [app('first'), app('second')]);
    // the frames arrive 2 ms after the responder accepts, the Result 20 ms later: held, not dropped
    expect(await p.clock.run(() => p.responder.peers().length === 1, 5_000)).toBe(true);
    await p.clock.run(() => false, 10);
    expect(p.initiator.peers()).toEqual([]);
    expect(heard).toEqual([]);
    expect(p.initiator.stats.earlyHeld).toBe(2);
    expect(await p.clock.run(() => heard.length === 2, 1_000)).toBe(true);
    expect(heard).toEqual(['first', 'second']);
    expect(p.initiator.peers()).toEqual([p.identities.responder.nodeId]);
    expect(p.initiator.stats.dropped).toBe(0);
    expect(p.initiator.stats.framesIn).toBe(2);
  });

  it('a lost Result: held frames wait for the re-sent one (the initiator asks again), in order', async () => {
    let results = 0;
    const p = await pair((d) => (isStep(d, HandshakeStep.Result) && results++ === 0 ? 'drop' : 'now'));
    const heard = await startWithGreeting(p, [app('x')]);
    expect(await p.clock.run(() => heard.length === 1, 5_000)).toBe(true);
    expect(results).toBe(2);
    expect(heard).toEqual(['x']);
    expect(p.initiator.stats.dropped).toBe(0);
  });

  it('held frames are bounded per peer in count and bytes; what is over the bound is dropped and counted', async () => {
    const p = await pair((d) => (isStep(d, HandshakeStep.Result) ? 20 : 'now'), { maxEarlyFrames: 3, maxEarlyBytes: 1_000 });
    const big = app('y'.repeat(600));
    const heard = await startWithGreeting(p, [app('1'), app('2'), big, app('3'), app('4')]);
    expect(await p.clock.run(() => p.initiator.peers().length === 1, 5_000)).toBe(true);
    await p.clock.run(() => false, 10);
    // '1', '2' held; the 600-byte frame fits the bytes left; '3' and '4' exceed three frames
    expect(heard).toEqual(['1', '2', 'y'.repeat(600)]);
    expect(p.initiator.stats.earlyHeld).toBe(3);
    expect(p.initiator.stats.dropReasons.earlyOverflow).toBe(2);
    expect(p.initiator.stats.dropped).toBe(2);

    const q = await pair((d) => (isStep(d, HandshakeStep.Result) ? 20 : 'now'), { maxEarlyFrames: 10, maxEarlyBytes: 1_000 });
    const heardQ = await startWithGreeting(q, [big, big, app('z')]);
    expect(await q.clock.run(() => q.initiator.peers().length === 1, 5_000)).toBe(true);
    await q.clock.run(() => false, 10);
    expect(heardQ).toEqual(['y'.repeat(600), 'z']);
    expect(q.initiator.stats.dropReasons.earlyOverflow).toBe(1);
  });

  it('held frames of a handshake that never completes are dropped at its timeout and never delivered', async () => {
    const p = await pair((d) => (isStep(d, HandshakeStep.Result) ? 'drop' : 'now'), { handshakeTimeoutMs: 3_000 });
    const heard = await startWithGreeting(p, [app('never')]);
    expect(await p.clock.run(() => p.initiator.stats.handshakesFailed > 0, 10_000)).toBe(true);
    expect(p.initiator.stats.dropReasons.handshakeEnded).toBe(1);
    // every Result is lost: the initiator starts again and again, and never hears the frame
    await p.clock.run(() => false, 10_000);
    expect(heard).toEqual([]);
    expect(p.initiator.peers()).toEqual([]);
  });

  it('a frame from a peer that has not proved its identity yet is refused, and not delivered after it does', async () => {
    // hold the responder's Challenge: the initiator has a session with it, but nothing verified
    const p = await pair((d) => (isStep(d, HandshakeStep.Challenge) ? 50 : 'now'));
    const heard = await startWithGreeting(p, []);
    await p.clock.run(() => false, 10);
    await p.steered.inject(p.identities.initiator.nodeId, new Uint8Array([LinkKind.Frame, ...encodeFrame(app('forged'))]));
    expect(await p.clock.run(() => p.initiator.stats.dropReasons.unauthenticated === 1, 1_000)).toBe(true);
    expect(p.initiator.stats.earlyHeld).toBe(0);
    expect(await p.clock.run(() => p.initiator.peers().length === 1, 5_000)).toBe(true);
    await p.clock.run(() => false, 100);
    expect(heard).toEqual([]);
  });

  it('without a handshake (closed simulations), a first frame from an unknown node makes it a peer and is delivered', async () => {
    // the responder's announcements are lost: the initiator learns of it only from its first frame
    const p = await pair((d) => (d[0] === LinkKind.Announce ? 'drop' : 'now'), {}, false);
    const heard = await startWithGreeting(p, [app('hello')]);
    expect(await p.clock.run(() => heard.length === 1, 10_000)).toBe(true);
    expect(p.initiator.peers()).toEqual([p.identities.responder.nodeId]);
    expect(p.initiator.stats.dropped).toBe(0);
  });

  it('end to end: a document the responder holds reaches the new peer with the first digest, not the next anti-entropy round', async () => {
    const p = await pair((d) => (isStep(d, HandshakeStep.Result) ? 20 : 'now'));
    const open = (transport: MeshTransport, identity: NodeIdentity, i: number): Promise<PeatReplica> =>
      PeatReplica.open({ transport, identity, clock: p.clock, random: p.random(20 + i), antiEntropyMs: 5_000 });
    const fresh = await open(p.initiator, p.identities.initiator, 0);
    const holder = await open(p.responder, p.identities.responder, 1);
    await holder.put('cells', 'cell-1', { name: 'one' });
    for (const r of [fresh, holder]) {
      await r.start();
      started.push(r);
    }
    const t0 = p.clock.now();
    expect(await p.clock.run(() => fresh.store.has('cells:cell-1'), 15_000)).toBe(true);
    // one round trip of the handshake plus the cooldown: far below the 5 s anti-entropy period
    expect(p.clock.now() - t0).toBeLessThan(1_000);
    expect(await fresh.get('cells', 'cell-1')).toMatchObject({ name: 'one' });
    expect(p.initiator.stats.dropped).toBe(0);
  });
});
