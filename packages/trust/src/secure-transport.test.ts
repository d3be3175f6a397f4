// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it } from '@jest/globals';
import { EVENT_TYPES, ManualClock, RPC_EVENT_TYPES, encodeAck, fixedRpcTopics, nodeSource, type EcpsEvent, type Transport } from '@ecps/core';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { describeTransportConformance, sleep, testEvent, waitFor } from '@ecps/testkit';
import { MemoryAuditSink } from './audit';
import { createDelegation } from './delegation';
import type { TrustError } from './errors';
import { IdentitySigner } from './identity';
import { KeyDirectory } from './key-directory';
import type { TrustLevelName } from './levels';
import { SIGNED_EVENT_TYPE } from './protect';
import { Rbac, type Principal } from './rbac';
import { publishRevocationList, subscribeRevocations } from './revocation';
import { SEALED_EVENT_TYPE } from './sealed-envelope';
import { secureTransport, type SecureTransport, type SecureTransportOptions } from './secure-transport';
import { SoftwareKeyProvider } from './software-key-provider';

interface Fleet {
  bus: MemoryBus;
  keys: KeyDirectory;
  rbac: Rbac;
  audit: MemoryAuditSink;
  rejects: TrustError[];
  fleetKeys: SoftwareKeyProvider;
  node(id: string, options?: Partial<SecureTransportOptions> & { trusted?: boolean }): Promise<SecureTransport>;
  raw(id: string): Transport;
  close(): Promise<void>;
}

/** `inner` as a transport whose request/reply uses the fixed DDS topics `{service}/request|reply|stream`. */
function withFixedRpcTopics(inner: Transport): Transport {
  return {
    kind: inner.kind,
    maxPayloadSize: inner.maxPayloadSize,
    rpcTopics: fixedRpcTopics,
    connect: () => inner.connect(),
    close: () => inner.close(),
    publish: (topic, event, options) => inner.publish(topic, event, options),
    subscribe: (filter, handler, options) => inner.subscribe(filter, handler, options),
    request: (service, request, options) => inner.request(service, request, options),
    serve: (service, handler) => inner.serve(service, handler),
    requestStream: (service, request, options) => inner.requestStream(service, request, options),
    serveStream: (service, handler) => inner.serveStream(service, handler),
  };
}

async function fleet(level: TrustLevelName, principals: Principal[] = [], clock?: ManualClock, fixedTopics = false): Promise<Fleet> {
  const bus = new MemoryBus();
  const keys = new KeyDirectory(clock ? { clock } : {});
  const rbac = new Rbac({ principals, ...(clock ? { clock } : {}) });
  const audit = new MemoryAuditSink();
  const rejects: TrustError[] = [];
  const fleetKeys = new SoftwareKeyProvider();
  const fleetInfo = await fleetKeys.generateKey('fleet-2026', 'x25519');
  const opened: Transport[] = [];
  const f: Fleet = {
    bus,
    keys,
    rbac,
    audit,
    rejects,
    fleetKeys,
    async node(id, options = {}) {
      const provider = new SoftwareKeyProvider();
      await provider.generateKey(`${id}-k`, 'ed25519');
      const identity = { id, keyId: `${id}-k`, provider };
      if (options.trusted !== false) keys.add(await new IdentitySigner(identity).trustedKey());
      const inner = memoryTransport({ nodeId: id, bus });
      const t = secureTransport(fixedTopics ? withFixedRpcTopics(inner) : inner, {
        identity,
        keys,
        level,
        principals: rbac,
        audit,
        sealing: { recipient: { keyId: 'fleet-2026', algorithm: 'x25519', publicKey: fleetInfo.publicKey! }, provider: fleetKeys },
        onReject: (e) => rejects.push(e),
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
    async close() {
      for (const t of opened) await t.close();
    },
  };
  return f;
}

describeTransportConformance('secure(memory) at AUDITED, all trusted', async () => {
  const f = await fleet('audited', [
    { id: 'a', kind: 'robot', roles: ['system_admin'] },
    { id: 'b', kind: 'robot', roles: ['system_admin'] },
  ]);
  return { a: await f.node('a'), b: await f.node('b'), teardown: () => f.close() };
});

describeTransportConformance('secure(memory with the fixed DDS request/reply topics) at AUTHENTICATED', async () => {
  const f = await fleet('authenticated', [], undefined, true);
  return { a: await f.node('a'), b: await f.node('b'), teardown: () => f.close() };
});

describe('secure transport over fixed request/reply topics (DDS)', () => {
  it('rejects a captured reply replayed with the correlation of another call; the real one still arrives', async () => {
    const f = await fleet('authenticated', [], undefined, true);
    try {
      const arm = await f.node('arm');
      const planner = await f.node('planner');
      const viewer = await f.node('viewer');
      expect(planner.rpcTopics.shared).toBe(true);
      const spy = f.raw('spy');
      const replies: EcpsEvent[] = [];
      await spy.subscribe('Arm.Status/reply', (e) => void replies.push(e));
      await arm.serve('Arm.Status', async (req) => {
        await sleep(30); // the replayed reply gets there first
        return testEvent(nodeSource('arm'), 0, { data: req.data });
      });
      await viewer.request('Arm.Status', testEvent(nodeSource('viewer'), 0, { data: Uint8Array.of(1) }), { timeoutMs: 2000 });
      await planner.request('Arm.Status', testEvent(nodeSource('planner'), 0, { data: Uint8Array.of(2) }), { timeoutMs: 2000 });
      await waitFor(() => replies.length === 2, 'captured replies');
      let replay = replies[0]!; // the viewer's: signed for another call
      await spy.subscribe('Arm.Status/request', async (req) => {
        if (req.source !== nodeSource('planner')) return;
        await spy.publish('Arm.Status/reply', { ...replay, extensions: { correlationid: req.extensions!['correlationid']! } });
      });
      const reply = await planner.request('Arm.Status', testEvent(nodeSource('planner'), 0, { data: Uint8Array.of(3) }), { timeoutMs: 2000 });
      expect([...reply.data]).toEqual([3]);
      replay = replies[1]!; // the planner's own earlier reply: its nonce was seen on this kept subscription
      const again = await planner.request('Arm.Status', testEvent(nodeSource('planner'), 0, { data: Uint8Array.of(4) }), { timeoutMs: 2000 });
      expect([...again.data]).toEqual([4]);
      expect(f.rejects.map((e) => e.code)).toEqual(['WRONG_RECIPIENT', 'REPLAY_DETECTED']);
    } finally {
      await f.close();
    }
  });
});

describe('secure transport: attacks', () => {
  let f: Fleet;
  afterEach(async () => f.close());

  async function setup(level: TrustLevelName = 'authorized', clock?: ManualClock) {
    f = await fleet(
      level,
      [
        { id: 'arm', kind: 'robot', roles: ['system_admin'] },
        { id: 'planner', kind: 'service', roles: [], permissions: { 'publish:eap': true, 'call:Arm.Status': true, 'call:Arm.Trajectory': true } },
        { id: 'viewer', kind: 'user', roles: [], permissions: { 'publish:eap': false } },
      ],
      clock,
    );
    const arm = await f.node('arm');
    const planner = await f.node('planner');
    const seen: EcpsEvent[] = [];
    await arm.subscribe('eap', (e) => void seen.push(e));
    const wire: EcpsEvent[] = [];
    const spy = f.raw('spy');
    await spy.subscribe('#', (e) => void wire.push(e));
    return { arm, planner, seen, wire, spy };
  }

  const action = (source: string) => testEvent(nodeSource(source), 32, { type: 'ecps.eap.action' });

  it('delivers a signed, sealed, authorized message and nothing readable on the wire', async () => {
    const { planner, seen, wire } = await setup();
    const sent = action('planner');
    await planner.publish('eap', sent);
    await waitFor(() => seen.length === 1 && wire.length === 1, 'delivery');
    expect(Buffer.from(seen[0]!.data)).toEqual(Buffer.from(sent.data));
    expect(wire[0]!.type).toBe(SEALED_EVENT_TYPE);
    expect(Buffer.from(wire[0]!.data).includes(Buffer.from(sent.data))).toBe(false);
  });

  it('rejects a replayed message with REPLAY_DETECTED', async () => {
    const { planner, seen, wire, spy } = await setup();
    await planner.publish('eap', action('planner'));
    await waitFor(() => seen.length === 1 && wire.length === 1, 'delivery');
    await spy.publish('eap', wire[0]!);
    await waitFor(() => f.rejects.length === 1, 'rejection');
    expect(f.rejects[0]!.code).toBe('REPLAY_DETECTED');
    expect(seen).toHaveLength(1);
  });

  it('rejects a message delayed beyond the 300 s window with STALE_MESSAGE', async () => {
    const clock = new ManualClock(Date.now());
    const { planner, seen, spy } = await setup('authorized', clock);
    const captured: EcpsEvent[] = [];
    await spy.subscribe('held', (e) => void captured.push(e));
    await planner.publish('held', action('planner'));
    await waitFor(() => captured.length === 1, 'capture');
    clock.advance(301_000);
    await spy.publish('eap', captured[0]!);
    await waitFor(() => f.rejects.length === 1, 'rejection');
    expect(f.rejects[0]!.code).toBe('STALE_MESSAGE');
    expect(seen).toHaveLength(0);
  });

  it('rejects a message reordered beyond what the nonce cache remembers with REPLAY_DETECTED', async () => {
    const clock = new ManualClock(Date.now());
    f = await fleet('authenticated', [], clock);
    const sender = await f.node('s');
    const receiver = await f.node('r', { replay: { maxNoncesPerSender: 2, clock } });
    const spy = f.raw('spy');
    const captured: EcpsEvent[] = [];
    await spy.subscribe('t/#', (e) => void captured.push(e));
    for (let i = 0; i < 5; i++) {
      await sender.publish(`t/${i}`, testEvent(nodeSource('s')));
      clock.advance(10);
    }
    await waitFor(() => captured.length === 5, 'capture');
    const got: EcpsEvent[] = [];
    await receiver.subscribe('t/+', (e) => void got.push(e));
    for (const i of [0, 2, 3, 4, 1]) await spy.publish(`t/${i}`, captured[i]!);
    await waitFor(() => got.length + f.rejects.length === 5, 'all processed');
    expect(got).toHaveLength(4);
    expect(f.rejects.map((e) => [e.code, e.details['reason']])).toEqual([['REPLAY_DETECTED', 'below-window']]);
  });

  it('rejects a tampered message (sealed: DECRYPTION_FAILED or SIGNATURE_INVALID; signed: SIGNATURE_INVALID)', async () => {
    const { planner, seen, wire, spy } = await setup();
    await planner.publish('elsewhere', action('planner'));
    await waitFor(() => wire.length === 1, 'capture');
    const data = new Uint8Array(wire[0]!.data);
    data[data.length - 20] = data[data.length - 20]! ^ 0x40;
    await spy.publish('eap', { ...wire[0]!, data });
    await waitFor(() => f.rejects.length === 1, 'rejection');
    expect(f.rejects[0]!.code).toBe('SIGNATURE_INVALID');

    const g = await fleet('authenticated');
    const s = await g.node('s', { confidentiality: false });
    const r = await g.node('r', { confidentiality: false });
    const got: EcpsEvent[] = [];
    await r.subscribe('x', (e) => void got.push(e));
    const raw = g.raw('spy');
    const cap: EcpsEvent[] = [];
    await raw.subscribe('y', (e) => void cap.push(e));
    await s.publish('y', testEvent(nodeSource('s')));
    await waitFor(() => cap.length === 1, 'capture');
    expect(cap[0]!.type).toBe(SIGNED_EVENT_TYPE);
    const d = new Uint8Array(cap[0]!.data);
    d[10] = d[10]! ^ 1;
    await raw.publish('x', { ...cap[0]!, data: d });
    await waitFor(() => g.rejects.length === 1, 'rejection');
    expect(g.rejects[0]!.code).toBe('SIGNATURE_INVALID');
    expect(got).toHaveLength(0);
    await g.close();
    expect(seen).toHaveLength(0);
  });

  it('rejects a message re-sent to another topic with WRONG_RECIPIENT', async () => {
    const { planner, seen, wire, spy } = await setup();
    await planner.publish('status', action('planner'));
    await waitFor(() => wire.length === 1, 'capture');
    await spy.publish('eap', wire[0]!);
    await waitFor(() => f.rejects.length === 1, 'rejection');
    expect(f.rejects[0]!.code).toBe('WRONG_RECIPIENT');
    expect(seen).toHaveLength(0);
  });

  it('rejects forgeries: unknown key (KEY_NOT_FOUND), impersonation (UNAUTHENTICATED), plain events (UNAUTHENTICATED)', async () => {
    const { seen, spy } = await setup();
    const intruder = await f.node('intruder', { trusted: false });
    await intruder.publish('eap', action('arm'));
    await waitFor(() => f.rejects.length === 1, 'first rejection');
    const viewer = await f.node('viewer');
    await viewer.publish('eap', action('arm')); // a known key claiming to be the arm
    await spy.publish('eap', action('arm'));
    await waitFor(() => f.rejects.length === 3, 'rejections');
    expect(f.rejects.map((e) => e.code)).toEqual(['KEY_NOT_FOUND', 'UNAUTHENTICATED', 'UNAUTHENTICATED']);
    expect(seen).toHaveLength(0);
  });

  it('authorizes against the sender principal: explicit deny, unknown principal; requests get REMOTE_ERROR', async () => {
    const { arm, planner, seen } = await setup();
    const viewer = await f.node('viewer');
    await viewer.publish('eap', action('viewer'));
    await waitFor(() => f.rejects.length === 1, 'rejection');
    expect(f.rejects[0]!.code).toBe('PERMISSION_DENIED');
    await arm.serve('Arm.Status', async (req) => testEvent(nodeSource('arm'), 0, { data: req.data }));
    const reply = await planner.request('Arm.Status', testEvent(nodeSource('planner'), 0, { data: Uint8Array.of(9) }), { timeoutMs: 2000 });
    expect([...reply.data]).toEqual([9]);
    await expect(viewer.request('Arm.Status', testEvent(nodeSource('viewer')), { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'REMOTE_ERROR' });
    expect(seen).toHaveLength(0);
  });

  it('admit: an authenticated sender that is not admitted is rejected (UNAUTHENTICATED, not-admitted) until it is', async () => {
    f = await fleet('authenticated');
    const admitted = new Set<string>();
    const asked: string[] = [];
    const controller = await f.node('controller', {
      admit: (principal, ctx) => {
        asked.push(`${principal}:${ctx.direction}:${ctx.target}`);
        return admitted.has(principal);
      },
    });
    const robot = await f.node('robot');
    const seen: EcpsEvent[] = [];
    await controller.subscribe('eap', (e) => void seen.push(e));
    await robot.publish('eap', action('robot'));
    await waitFor(() => f.rejects.length === 1, 'rejection');
    expect(f.rejects[0]).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'not-admitted', principal: 'robot' } });
    admitted.add('robot');
    await robot.publish('eap', action('robot'));
    await waitFor(() => seen.length === 1, 'delivery once admitted');
    expect(asked).toEqual(['robot:publish:eap', 'robot:publish:eap']);
  });

  it('rejects a captured reply replayed as the answer to another request with WRONG_RECIPIENT; the real one still arrives', async () => {
    const { arm, planner, spy } = await setup();
    const replies: EcpsEvent[] = [];
    await spy.subscribe('response/+', (e) => void replies.push(e));
    await arm.serve('Arm.Status', async (req) => {
      await sleep(30); // the replayed reply gets there first
      return testEvent(nodeSource('arm'), 0, { data: req.data });
    });
    await planner.request('Arm.Status', testEvent(nodeSource('planner'), 0, { data: Uint8Array.of(1) }), { timeoutMs: 2000 });
    await waitFor(() => replies.length === 1, 'captured reply');
    await spy.subscribe('Arm.Status/request', async (req) => {
      const correlation = req.extensions!['correlationid']!;
      await spy.publish(`response/${correlation}`, { ...replies[0]!, extensions: { correlationid: correlation } });
    });
    const reply = await planner.request('Arm.Status', testEvent(nodeSource('planner'), 0, { data: Uint8Array.of(2) }), { timeoutMs: 2000 });
    expect([...reply.data]).toEqual([2]);
    expect(f.rejects.map((e) => e.code)).toEqual(['WRONG_RECIPIENT']);
  });

  it('rejects a forged reply and a forged error reply; the requester still gets the real answer', async () => {
    const { arm, planner, spy } = await setup();
    await arm.serve('Arm.Status', async (req) => {
      await sleep(30);
      return testEvent(nodeSource('arm'), 0, { data: req.data });
    });
    const forgeries = [
      (correlation: string) => testEvent(nodeSource('arm'), 0, { data: Uint8Array.of(66), extensions: { correlationid: correlation } }),
      (correlation: string): EcpsEvent => ({
        id: `forged-${correlation}`,
        source: nodeSource('arm'),
        type: EVENT_TYPES.streamEnd,
        extensions: { correlationid: correlation },
        data: encodeAck({ success: false, message: 'PERMISSION_DENIED: forged' }),
      }),
    ];
    let forge = forgeries[0]!;
    await spy.subscribe('Arm.Status/request', async (req) => {
      const correlation = req.extensions!['correlationid']!;
      await spy.publish(`response/${correlation}`, forge(correlation));
    });
    for (const [i, forgery] of forgeries.entries()) {
      forge = forgery;
      const reply = await planner.request('Arm.Status', testEvent(nodeSource('planner'), 0, { data: Uint8Array.of(i) }), { timeoutMs: 2000 });
      expect([...reply.data]).toEqual([i]);
    }
    expect(f.rejects.map((e) => e.code)).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED']);
  });

  it('rejects a forged stream end: the stream is neither cut short nor failed', async () => {
    const { arm, planner, spy } = await setup();
    await arm.serveStream('Arm.Trajectory', async function* (req) {
      for (let i = 0; i < 3; i++) {
        await sleep(20);
        yield testEvent(nodeSource('arm'), 0, { data: Uint8Array.of(i), extensions: { correlationid: req.extensions?.['correlationid'] ?? '' } });
      }
    });
    for (const success of [true, false]) {
      const forgedEnd = spy.subscribe('Arm.Trajectory/request', async (req) => {
        const correlation = req.extensions!['correlationid']!;
        await spy.publish(`Arm.Trajectory/stream/${correlation}`, {
          id: `forged-end-${success}`,
          source: nodeSource('arm'),
          type: EVENT_TYPES.streamEnd,
          extensions: { correlationid: correlation },
          data: encodeAck({ success, message: success ? 'ok' : 'CANCELLED: forged' }),
        });
      });
      const sub = await forgedEnd;
      const got: number[] = [];
      for await (const e of planner.requestStream('Arm.Trajectory', testEvent(nodeSource('planner')), { timeoutMs: 2000 })) got.push(e.data[0]!);
      expect(got).toEqual([0, 1, 2]);
      await sub.unsubscribe();
    }
    expect(f.rejects.map((e) => e.code)).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED']);
  });

  it('rejects a forged stream cancel: the server keeps streaming', async () => {
    const { arm, planner, spy } = await setup();
    await arm.serveStream('Arm.Trajectory', async function* () {
      for (let i = 0; i < 3; i++) {
        await sleep(20);
        yield testEvent(nodeSource('arm'), 0, { data: Uint8Array.of(i) });
      }
    });
    await spy.subscribe('Arm.Trajectory/stream/+', async (e) => {
      if (e.id.startsWith('forged')) return;
      const correlation = e.extensions!['correlationid']!;
      await spy.publish('Arm.Trajectory/request', {
        id: `forged-cancel-${e.id}`,
        source: nodeSource('planner'),
        type: RPC_EVENT_TYPES.streamCancel,
        extensions: { correlationid: correlation },
        data: new Uint8Array(0),
      });
    });
    const got: number[] = [];
    for await (const e of planner.requestStream('Arm.Trajectory', testEvent(nodeSource('planner')), { timeoutMs: 2000 })) got.push(e.data[0]!);
    expect(got).toEqual([0, 1, 2]);
    expect(f.rejects.length).toBeGreaterThan(0);
    expect(new Set(f.rejects.map((e) => e.code))).toEqual(new Set(['UNAUTHENTICATED']));
  });

  it('writes audit events for allowed and denied decisions at AUDITED only', async () => {
    const { planner, seen } = await setup('audited');
    const viewer = await f.node('viewer');
    await planner.publish('eap', action('planner'));
    await viewer.publish('eap', action('viewer'));
    await waitFor(() => seen.length === 1 && f.rejects.length === 1, 'decisions');
    expect(f.audit.events.map((e) => [e.principal, e.action, e.resource, e.allowed, e.reason])).toEqual([
      ['planner', 'publish', 'eap', true, undefined],
      ['viewer', 'publish', 'eap', false, 'PERMISSION_DENIED'],
    ]);
    const g = await fleet('authorized', [{ id: 'p', kind: 'service', roles: ['system_admin'] }]);
    const p = await g.node('p');
    await p.subscribe('x', () => undefined);
    await p.publish('x', testEvent(nodeSource('p')));
    await sleep(50);
    expect(g.audit.events).toHaveLength(0);
    await g.close();
  });

  it('accepts identity forwarding with a signed delegation chain and nothing beyond it', async () => {
    const { seen } = await setup();
    const gateway = await f.node('gateway');
    const plannerSigner = new IdentitySigner({ id: 'planner', keyId: 'planner-k', provider: new SoftwareKeyProvider() });
    // the planner's real key lives in the fleet's directory; sign the delegation with a key of the planner
    await (plannerSigner.identity.provider as SoftwareKeyProvider).generateKey('planner-k2', 'ed25519');
    const delegSigner = new IdentitySigner({ id: 'planner', keyId: 'planner-k2', provider: plannerSigner.identity.provider });
    f.keys.add(await delegSigner.trustedKey());
    await gateway.publish('eap', action('planner'));
    await waitFor(() => f.rejects.length === 1, 'rejection without a chain');
    expect(f.rejects[0]!.code).toBe('UNAUTHENTICATED');
    gateway.actFor([await createDelegation(delegSigner, 'gateway', { notAfterMs: Date.now() + 60_000, permissions: ['publish:eap'] })]);
    await gateway.publish('eap', action('planner'));
    await waitFor(() => seen.length === 1, 'forwarded delivery');
    expect(seen[0]!.source).toBe(nodeSource('planner'));
    gateway.actFor([await createDelegation(delegSigner, 'gateway', { notAfterMs: Date.now() + 60_000, permissions: ['publish:status'] })]);
    await gateway.publish('eap', action('planner'));
    await waitFor(() => f.rejects.length === 2, 'narrowed chain');
    expect(f.rejects[1]!.code).toBe('PERMISSION_DENIED');
  });

  it('applies signed revocation lists from the transport: a revoked key is rejected with KEY_REVOKED', async () => {
    const { planner, seen, spy } = await setup();
    const authorityKeys = new SoftwareKeyProvider();
    await authorityKeys.generateKey('ca', 'ed25519');
    const authority = new IdentitySigner({ id: 'security-office', keyId: 'ca', provider: authorityKeys });
    f.keys.add(await authority.trustedKey());
    const applied: bigint[] = [];
    await subscribeRevocations(spy, f.keys, { authorities: ['security-office'], onApplied: (l) => applied.push(l.sequence) });
    await publishRevocationList(spy, authority, { sequence: 1n, revokedKeyIds: ['planner-k'] });
    await waitFor(() => applied.length === 1, 'revocation');
    await planner.publish('eap', action('planner'));
    await waitFor(() => f.rejects.length === 1, 'rejection');
    expect(f.rejects[0]!.code).toBe('KEY_REVOKED');
    expect(seen).toHaveLength(0);
  });

  it('changes what is on the wire with the level', async () => {
    for (const [level, type] of [
      ['none', 'ecps.ext.test'],
      ['encryption', SEALED_EVENT_TYPE],
      ['authenticated', SEALED_EVENT_TYPE],
    ] as const) {
      const g = await fleet(level);
      const s = await g.node('s');
      const spy = g.raw('spy');
      const wire: EcpsEvent[] = [];
      await spy.subscribe('x', (e) => void wire.push(e));
      await s.publish('x', testEvent(nodeSource('s')));
      await waitFor(() => wire.length === 1, 'wire');
      expect(wire[0]!.type).toBe(type);
      await g.close();
    }
  });
});
