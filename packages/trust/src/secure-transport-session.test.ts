// SPDX-License-Identifier: Apache-2.0
// Session mode of the secure transport, end to end over the memory transport: independent instances that share
// nothing but the bus and the fleet's public keys.
import { afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock, nodeSource, type Clock, type EcpsEvent, type Transport } from '@ecps/core';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { describeTransportConformance, testEvent, waitFor } from '@ecps/testkit';
import type { TrustError } from './errors';
import { IdentitySigner, type Identity } from './identity';
import { KeyDirectory } from './key-directory';
import { Rbac } from './rbac';
import { secureTransport, type SecureTransport, type SecureTransportOptions } from './secure-transport';
import { SESSION_EVENT_TYPE } from './session-manager';
import { SoftwareKeyProvider } from './software-key-provider';

interface Net {
  bus: MemoryBus;
  keys: KeyDirectory;
  rejects: Map<string, TrustError[]>;
  identity(id: string, enrolled?: boolean): Promise<Identity>;
  node(id: string, options?: Partial<SecureTransportOptions> & { identity?: Identity }): Promise<SecureTransport>;
  raw(id: string): Transport;
  close(): Promise<void>;
}

const opened: Transport[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
});

function net(clock?: Clock): Net {
  const bus = new MemoryBus();
  const keys = new KeyDirectory(clock ? { clock } : {});
  const rejects = new Map<string, TrustError[]>();
  const identities = new Map<string, Identity>();
  const n: Net = {
    bus,
    keys,
    rejects,
    async identity(id, enrolled = true) {
      const provider = new SoftwareKeyProvider();
      await provider.generateKey(`${id}-k`, 'ed25519');
      const identity = { id, keyId: `${id}-k`, provider };
      if (enrolled) keys.add(await new IdentitySigner(identity).trustedKey());
      identities.set(id, identity);
      return identity;
    },
    async node(id, options = {}) {
      const identity = options.identity ?? identities.get(id) ?? (await n.identity(id));
      const list: TrustError[] = rejects.get(id) ?? [];
      rejects.set(id, list);
      const t = secureTransport(memoryTransport({ nodeId: id, bus }), {
        identity,
        keys,
        level: 'authenticated',
        session: { handshakeTimeoutMs: 2000, retryMs: 0 },
        onReject: (e) => list.push(e),
        ...(clock ? { clock } : {}),
        ...options,
      });
      await t.connect();
      opened.push(t);
      return t;
    },
    raw(id) {
      const t = memoryTransport({ nodeId: id, bus });
      opened.push(t);
      return t;
    },
    close: async () => undefined,
  };
  return n;
}

/** Entries of a session record: where each one's header and ciphertext sit. */
function entries(record: Uint8Array): { epoch: number; seq: number; ciphertextAt: number }[] {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  let at = 1;
  at += 2 + view.getUint16(at);
  const count = view.getUint16(at);
  at += 2;
  const out = [];
  for (let i = 0; i < count; i++) {
    const epoch = view.getUint32(at + 8);
    const seq = view.getUint32(at + 12) * 2 ** 32 + view.getUint32(at + 16);
    const length = view.getUint32(at + 20);
    out.push({ epoch, seq, ciphertextAt: at + 24 });
    at += 24 + length;
  }
  return out;
}

const event = (from: string, i: number): EcpsEvent => testEvent(nodeSource(from), 64, { data: Uint8Array.of(i, 1, 2, 3) });

async function connected(n: Net, options: Partial<SecureTransportOptions> = {}): Promise<{ a: SecureTransport; b: SecureTransport }> {
  const a = await n.node('a', options);
  const b = await n.node('b', options);
  await a.handshake('b');
  await waitFor(() => (b.sessions?.peers ?? []).includes('a'), 'b confirms the session');
  return { a, b };
}

/** A raw (unprotected) client on `topic`: what crosses the wire, and a way to put records back on it. */
async function tap(n: Net, topic: string): Promise<{ spy: Transport; wire: EcpsEvent[] }> {
  const spy = n.raw('spy');
  const wire: EcpsEvent[] = [];
  await spy.subscribe(topic, (e) => void wire.push(e));
  return { spy, wire };
}

describeTransportConformance('secure(memory) in session mode at AUTHORIZED', async () => {
  const n = net();
  const principals = new Rbac({ principals: [{ id: 'a', kind: 'robot', roles: ['system_admin'] }, { id: 'b', kind: 'robot', roles: ['system_admin'] }] });
  const a = await n.node('a', { level: 'authorized', principals, session: { peers: ['b'] } });
  const b = await n.node('b', { level: 'authorized', principals, session: { peers: ['a'] } });
  await waitFor(() => a.sessions!.peers.includes('b') && b.sessions!.peers.includes('a'), 'sessions');
  return { a, b, teardown: async () => undefined };
});

describe('secure transport in session mode', () => {
  it('carries only session-sealed messages on the wire, and the payload is not in clear', async () => {
    const n = net();
    const { a, b } = await connected(n);
    const { wire } = await tap(n, 't');
    const got: EcpsEvent[] = [];
    await b.subscribe('t', (e) => void got.push(e));
    const sent = testEvent(nodeSource('a'), 256);
    await a.publish('t', sent);
    await waitFor(() => got.length === 1, 'delivery');
    expect(got[0]).toMatchObject({ id: sent.id, source: sent.source, type: sent.type });
    expect([...got[0]!.data]).toEqual([...sent.data]);
    expect(wire[0]!.type).toBe(SESSION_EVENT_TYPE);
    expect(Buffer.from(wire[0]!.data).includes(Buffer.from(sent.data.subarray(0, 32)))).toBe(false);
  });

  it('seals one record with an entry per listening peer (and itself), each read by its own reader only', async () => {
    const n = net();
    const a = await n.node('a');
    const b = await n.node('b');
    const c = await n.node('c');
    await a.handshake('b');
    await a.handshake('c');
    await waitFor(() => b.sessions!.peers.includes('a') && c.sessions!.peers.includes('a'), 'b and c confirm');
    const { wire } = await tap(n, 't');
    const got: Record<string, number[]> = { a: [], b: [], c: [] };
    for (const [id, t] of [['a', a], ['b', b], ['c', c]] as const) await t.subscribe('t', (e) => void got[id]!.push(e.data[0]!));
    for (let i = 0; i < 3; i++) await a.publish('t', event('a', i));
    await waitFor(() => got['a']!.length === 3 && got['b']!.length === 3 && got['c']!.length === 3, 'delivery to a, b and c');
    expect(got).toEqual({ a: [0, 1, 2], b: [0, 1, 2], c: [0, 1, 2] });
    expect(wire.map((e) => entries(e.data).map((x) => x.seq))).toEqual([[0, 0, 0], [1, 1, 1], [2, 2, 2]]);
    expect(n.rejects.get('b')).toEqual([]);
    expect(n.rejects.get('c')).toEqual([]);
  });

  it('drops the least recently heard peer beyond maxPeers, counting messages heard after a new peer joined', async () => {
    const n = net();
    const a = await n.node('a', { session: { maxPeers: 2, handshakeTimeoutMs: 2000, retryMs: 60_000 } });
    const got: string[] = [];
    await a.subscribe('t', (e) => void got.push(e.source));
    const peer = async (id: string) => {
      const t = await n.node(id);
      await a.handshake(id);
      await waitFor(() => t.sessions!.peers.includes('a'), `${id} confirms`);
      return t;
    };
    const hear = async (t: SecureTransport, id: string) => {
      const before = got.length;
      await t.publish('t', event(id, 0));
      await waitFor(() => got.length === before + 1, `a hears ${id}`);
    };
    const b = await peer('b');
    await peer('c');
    await hear(b, 'b'); // b is now the most recently used
    await peer('d'); // drops c (least recently used); d is newest
    expect(a.sessions!.peers.sort()).toEqual(['b', 'd']);
    await hear(b, 'b'); // b again, after d joined: b must count as more recent than d
    await peer('e'); // so d is dropped, not b
    expect(a.sessions!.peers.sort()).toEqual(['b', 'e']);
  });

  it('refuses tampered, relabelled and replayed messages; accepts reordered ones once within the window', async () => {
    const n = net();
    const { a, b } = await connected(n, { session: { replayWindow: 32, retryMs: 60_000 } });
    expect([a.sessions!.suiteWith('b'), b.sessions!.suiteWith('a')]).toEqual(['chacha20-poly1305', 'chacha20-poly1305']); // the default
    const { spy, wire } = await tap(n, 'capture');
    for (let i = 0; i < 3; i++) await a.publish('capture', event('a', i));
    await waitFor(() => wire.length === 3, 'capture');
    const got: number[] = [];
    await b.subscribe('t', (e) => void got.push(e.data[0]!));
    const inject = (e: EcpsEvent) => spy.publish('t', e);
    // captured on another topic: the destination inside does not match
    await inject(wire[0]!);
    // reordered: 2, 0, 1 once each (retargeted by the sender, so only the order differs)
    const retargeted: EcpsEvent[] = [];
    await spy.subscribe('t', (e) => void retargeted.push(e));
    for (let i = 0; i < 3; i++) await a.publish('t', event('a', 10 + i));
    const genuineOnes = () => retargeted.filter((e) => e.id !== wire[0]!.id);
    await waitFor(() => got.length === 3 && genuineOnes().length === 3, 'in-order delivery');
    const genuine = genuineOnes();
    for (const i of [2, 0, 1]) await inject(genuine[i]!);
    // tampered ciphertext of a message this scope never accepted (so the counter is not what refuses it)
    const tampered = Uint8Array.from(wire[1]!.data);
    for (const entry of entries(tampered)) tampered[entry.ciphertextAt + 3]! ^= 0x40;
    await inject({ ...wire[1]!, data: tampered });
    // relabelled sender
    const relabelled = Uint8Array.from(wire[2]!.data);
    relabelled[3] = 'x'.charCodeAt(0); // senderId "a" -> "x"
    await inject({ ...wire[2]!, data: relabelled });
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([10, 11, 12]);
    const codes = n.rejects.get('b')!.map((e) => `${e.code}:${String((e.details as { reason?: string } | undefined)?.reason ?? '')}`);
    expect(codes).toEqual([
      'WRONG_RECIPIENT:',
      'REPLAY_DETECTED:duplicate',
      'REPLAY_DETECTED:duplicate',
      'REPLAY_DETECTED:duplicate',
      'DECRYPTION_FAILED:',
      'UNAUTHENTICATED:sender-mismatch',
    ]);
  });

  it('accepts out-of-order messages within the window exactly once, refuses those below it', async () => {
    const n = net();
    const { a, b } = await connected(n, { session: { replayWindow: 32, retryMs: 60_000 } });
    const { spy, wire } = await tap(n, 'held');
    for (let i = 0; i < 40; i++) await a.publish('held', event('a', i));
    await waitFor(() => wire.length === 40, 'capture');
    // the "network" delivered nothing yet; b subscribes and receives them out of order, some twice
    const got: number[] = [];
    await b.subscribe('held', (e) => void got.push(e.data[0]!));
    n.rejects.get('b')!.length = 0;
    for (const i of [39, 20, 8, 39, 30, 7, 20]) await spy.publish('held', wire[i]!);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([39, 20, 8, 30]);
    expect(n.rejects.get('b')!.map((e) => (e.details as { reason: string }).reason)).toEqual(['duplicate', 'below-window', 'duplicate']);
  });

  it('re-keys on the wire after maxMessagesPerEpoch messages and after epochMs (injected clock), without losing a message', async () => {
    const clock = new ManualClock(Date.now());
    const n = net(clock);
    const { a, b } = await connected(n, { session: { maxMessagesPerEpoch: 3, epochMs: 60_000 } });
    const { wire } = await tap(n, 't');
    const got: number[] = [];
    await b.subscribe('t', (e) => void got.push(e.data[0]!));
    for (let i = 0; i < 7; i++) await a.publish('t', event('a', i));
    await waitFor(() => got.length === 7, 'delivery');
    const epochs = () => wire.map((e) => entries(e.data).find((x) => x.seq >= 0)!.epoch);
    expect(epochs()).toEqual([0, 0, 0, 1, 1, 1, 2]);
    clock.advance(60_000);
    await a.publish('t', event('a', 7));
    await waitFor(() => got.length === 8, 'delivery after the time limit');
    expect(epochs().at(-1)).toBe(3);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('refuses a key exchange from a node whose identity key is not enrolled, and from one signing as another', async () => {
    const n = net();
    const b = await n.node('b');
    const stranger = await n.node('stranger', { identity: await n.identity('stranger', false), session: { handshakeTimeoutMs: 200 } });
    await expect(stranger.handshake('b')).rejects.toMatchObject({ code: 'TIMEOUT' });
    const mallory = await n.identity('mallory');
    const impostor = await n.node('a', { identity: { ...mallory, id: 'a' }, session: { handshakeTimeoutMs: 200 } });
    await expect(impostor.handshake('b')).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(n.rejects.get('b')!.map((e) => e.code)).toEqual(['KEY_NOT_FOUND', 'UNAUTHENTICATED']);
    expect(b.sessions!.peers).toEqual([]);
  });

  it('ends a session when the peer\'s identity key is revoked, and refuses a new exchange with it', async () => {
    const n = net();
    const { a, b } = await connected(n, { session: { handshakeTimeoutMs: 200, retryMs: 0 } });
    const got: number[] = [];
    await b.subscribe('t', (e) => void got.push(e.data[0]!));
    await a.publish('t', event('a', 1));
    await waitFor(() => got.length === 1, 'before revocation');
    n.keys.revoke('a-k'); // the directory the fleet shares
    await a.publish('t', event('a', 2));
    await waitFor(() => n.rejects.get('b')!.some((e) => e.code === 'KEY_REVOKED'), 'refusal');
    expect(b.sessions!.peers).not.toContain('a');
    expect(got).toEqual([1]);
    await expect(a.handshake('b')).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(n.rejects.get('b')!.filter((e) => e.code === 'KEY_REVOKED').length).toBeGreaterThanOrEqual(2);
  });

  it('heals after a peer restarts: the restarted node reaches out on the first message it cannot read', async () => {
    const n = net();
    const { a, b } = await connected(n);
    const got: number[] = [];
    await b.subscribe('t', (e) => void got.push(e.data[0]!));
    await a.publish('t', event('a', 1));
    await waitFor(() => got.length === 1, 'before restart');
    await b.close();
    const b2 = await n.node('b'); // same identity, new process state: no sessions
    const got2: number[] = [];
    await b2.subscribe('t', (e) => void got2.push(e.data[0]!));
    await a.publish('t', event('a', 2)); // sealed for the old session only: b2 cannot read it and reaches out
    await waitFor(() => b2.sessions!.peers.includes('a') && a.sessions!.peers.includes('b'), 'new session');
    await a.publish('t', event('a', 3));
    await waitFor(() => got2.length === 1, 'after restart');
    expect(got2).toEqual([3]);
    expect(n.rejects.get('b')!.map((e) => (e.details as { reason?: string }).reason)).toContain('no-session');
  });

  it('runs the suite both accept, refuses an exchange with no suite in common, and refuses bad suite lists', async () => {
    const n = net();
    const { a, b } = await connected(n, { session: { handshakeTimeoutMs: 300 } });
    const aes = await n.node('aes', { session: { suites: ['aes-256-gcm'], handshakeTimeoutMs: 300 } });
    await a.handshake('aes');
    await waitFor(() => aes.sessions!.peers.includes('a'), 'aes confirms');
    expect([a.sessions!.suiteWith('aes'), aes.sessions!.suiteWith('a'), a.sessions!.suiteWith('b')]).toEqual(['aes-256-gcm', 'aes-256-gcm', 'chacha20-poly1305']);
    const got: string[] = [];
    await aes.subscribe('t', (e) => void got.push(`aes:${e.data[0]}`));
    await b.subscribe('t', (e) => void got.push(`b:${e.data[0]}`));
    await a.publish('t', event('a', 7)); // one record: an AES-GCM entry for aes, a ChaCha20-Poly1305 entry for b
    await waitFor(() => got.length === 2, 'both read it');
    expect(got.sort()).toEqual(['aes:7', 'b:7']);
    const chacha = await n.node('chacha', { session: { suites: ['chacha20-poly1305'], handshakeTimeoutMs: 300 } });
    await expect(chacha.handshake('aes')).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(n.rejects.get('aes')!.map((e) => e.code)).toContain('MECHANISM_UNSUPPORTED');
    expect(chacha.sessions!.suiteWith('aes')).toBeUndefined();
    const identity = await n.identity('c');
    const base = { identity, keys: n.keys, level: 'authenticated' } as const;
    expect(() => secureTransport(n.raw('c'), { ...base, session: { suites: [] } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => secureTransport(n.raw('c'), { ...base, session: { suites: ['aes-256-gcm', 'aes-256-gcm'] } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => secureTransport(n.raw('c'), { ...base, session: { suites: ['des' as never] } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('answers requests in session mode and refuses configurations it cannot honour', async () => {
    const n = net();
    const { a, b } = await connected(n);
    await b.serve('Echo', async (req) => testEvent(nodeSource('b'), 0, { data: req.data }));
    const reply = await a.request('Echo', event('a', 42), { timeoutMs: 2000 });
    expect(reply.data[0]).toBe(42);
    const identity = await n.identity('c');
    const base = { identity, keys: n.keys, session: true } as const;
    expect(() => secureTransport(n.raw('c'), { ...base, level: 'audited', principals: new Rbac() })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => secureTransport(n.raw('c'), { ...base, level: 'encryption' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => secureTransport(n.raw('c'), { ...base, level: 'authenticated', session: { replayWindow: 1 } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => secureTransport(n.raw('c'), { ...base, level: 'authenticated', session: { epochMs: -1 } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    await expect(secureTransport(n.raw('c'), { identity, keys: n.keys, level: 'authenticated', confidentiality: false }).handshake('a')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

describe('secure transport in session mode: batched records', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const codes = (n: Net, id: string) => n.rejects.get(id)!.map((e) => `${e.code}:${String((e.details as { reason?: string } | undefined)?.reason ?? '')}`);

  it('sends publishes of one tick as one record per run of equal delivery options, delivered once each and in order', async () => {
    const n = net();
    const { a, b } = await connected(n);
    const { wire } = await tap(n, 't');
    const got: number[] = [];
    await b.subscribe('t', (e) => void got.push(e.data[0]!));
    await Promise.all(Array.from({ length: 10 }, (_, i) => a.publish('t', event('a', i), { qos: i < 7 ? 1 : 0 })));
    await waitFor(() => got.length === 10, 'delivery');
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // published in one tick: 0..6 (QoS 1) in one record, 7..9 (QoS 0) in the next
    expect(wire.map((e) => entries(e.data).map((x) => x.seq))).toEqual([[0], [1]]);
    expect(Buffer.from(wire[0]!.data).includes(Buffer.from(event('a', 3).data))).toBe(false);
    expect(n.rejects.get('b')).toEqual([]);
    // awaited one at a time, nothing waits: one record per message as before
    for (let i = 0; i < 2; i++) await a.publish('t', event('a', 20 + i));
    await waitFor(() => got.length === 12, 'delivery');
    expect(wire.length).toBe(4);
  });

  it('sends publishes made by promise continuations before the microtask queue drained as one record', async () => {
    const n = net();
    const { a, b } = await connected(n);
    const { wire } = await tap(n, 't');
    const got: number[] = [];
    await b.subscribe('t', (e) => void got.push(e.data[0]!));
    const sent: Promise<void>[] = [];
    for (let i = 0; i < 4; i++) {
      sent.push(a.publish('t', event('a', i)));
      await Promise.resolve(); // a continuation, as a caller keeping several publishes in flight makes them
    }
    await Promise.all(sent);
    await waitFor(() => got.length === 4, 'delivery');
    expect(got).toEqual([0, 1, 2, 3]);
    expect(wire).toHaveLength(1);
  });

  it('refuses a batched record if any byte of any message in it was changed, delivers it once when intact, refuses its replay', async () => {
    const n = net();
    const { a, b } = await connected(n, { session: { retryMs: 60_000 } });
    const { spy, wire } = await tap(n, 'held');
    await Promise.all(Array.from({ length: 5 }, (_, i) => a.publish('held', event('a', i))));
    await waitFor(() => wire.length === 1, 'capture');
    const batch = wire[0]!;
    const [entry] = entries(batch.data);
    const length = batch.data.length - entry!.ciphertextAt;
    const got: number[] = [];
    await b.subscribe('held', (e) => void got.push(e.data[0]!));
    // the batch marker, the first message's length, the middle, the last message's last byte, the tag
    for (const offset of [0, 3, Math.floor(length / 2), length - 17, length - 1]) {
      const tampered = Uint8Array.from(batch.data);
      tampered[entry!.ciphertextAt + offset]! ^= 0x01;
      await spy.publish('held', { ...batch, data: tampered });
    }
    await sleep(50);
    expect(got).toEqual([]);
    expect(codes(n, 'b')).toEqual(Array(5).fill('DECRYPTION_FAILED:'));
    await spy.publish('held', batch);
    await spy.publish('held', batch);
    await sleep(50);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(codes(n, 'b').slice(5)).toEqual(['REPLAY_DETECTED:duplicate']);
  });

  it('refuses a batched record where one message is expected (a served request)', async () => {
    const n = net();
    const { a, b } = await connected(n, { session: { retryMs: 60_000 } });
    const { spy, wire } = await tap(n, 'held');
    await Promise.all(Array.from({ length: 3 }, (_, i) => a.publish('held', event('a', i))));
    await waitFor(() => wire.length === 1, 'capture');
    let served = 0;
    await b.serve('Echo', async (req) => {
      served++;
      return req;
    });
    await spy.publish(b.rpcTopics.request('Echo'), wire[0]!);
    await sleep(50);
    expect(served).toBe(0);
    expect(codes(n, 'b')).toEqual(['DECODE_ERROR:']);
  });
});
