// SPDX-License-Identifier: Apache-2.0
// Checklist items 5 (mutual handshake) and 20 (security): the spec's vectors, certificates and delegation, RBAC,
// every signed-change rejection case, the device challenge.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from '@jest/globals';
import * as A from '@automerge/automerge';
import { ManualClock, fromHex, seededRandom, toHex } from '@ecps/core';
import { SoftwareKeyProvider } from '@ecps/trust';
import { FrameType, encodeChangeSignatures, encodeSyncBatch } from '../src/frame';
import type { Frame } from '../src/frame';
import {
  MutualHandshake,
  decodeHandshake,
  formationIkm,
  formationKey,
  handshakeTranscript,
  hmacSha256,
  legacyHandshakeResponse,
} from '../src/security/handshake';
import type { Challenge, Hello } from '../src/security/handshake';
import { deviceIdFromPublicKey } from '../src/security/ed25519';
import { identityFromKeyProvider } from '../src/security/identity';
import type { NodeIdentity } from '../src/security/identity';
import { CertificateValidator, MIN_CERTIFICATE_BYTES, Permission, Tier, decodeCertificate, encodeCertificate, issueCertificate } from '../src/security/certificate';
import { RoleBasedAuthorizer } from '../src/security/rbac';
import { signChange } from '../src/security/signed-changes';
import { DeviceChallenger, answerChallenge, challengeSigningInput } from '../src/security/device-challenge';
import { changesInSyncMessage } from '../src/store/change-info';
import { Sim } from './harness';

const vectors = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'spec-vectors.json'), 'utf8')) as {
  deviceId: { publicKey: string; deviceId: string };
  handshake: unknown;
};
type HandshakeVectors = Record<
  'formationId' | 'secret' | 'hmacKey' | 'shortSecret' | 'shortSecretIkm' | 'shortSecretHmacKey' | 'initiator' | 'responder' | 'nonceI' | 'nonceR' | 'macR' | 'macI' | 'legacyNonce' | 'legacyResponse',
  string
> & { transcriptBytes: number };
const hv = vectors.handshake as HandshakeVectors;

const keys = new SoftwareKeyProvider();
let keySeq = 0;
async function newIdentity(): Promise<NodeIdentity> {
  const id = `k${keySeq++}`;
  await keys.generateKey(id, 'ed25519');
  return identityFromKeyProvider(keys, id);
}

let sim: Sim | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

describe('checklist 5: mutual formation-key handshake', () => {
  it('all §8.2 vectors pass', () => {
    expect(toHex(formationKey(hv.formationId, hv.secret))).toBe(hv.hmacKey);
    expect(toHex(formationIkm(hv.shortSecret))).toBe(hv.shortSecretIkm);
    expect(toHex(formationKey(hv.formationId, hv.shortSecret))).toBe(hv.shortSecretHmacKey);
    const key = fromHex(hv.hmacKey);
    const args = [hv.formationId, hv.initiator, hv.responder, fromHex(hv.nonceI), fromHex(hv.nonceR)] as const;
    expect(handshakeTranscript('R', ...args).length).toBe(hv.transcriptBytes);
    expect(toHex(hmacSha256(key, handshakeTranscript('R', ...args)))).toBe(hv.macR);
    expect(toHex(hmacSha256(key, handshakeTranscript('I', ...args)))).toBe(hv.macI);
    expect(toHex(legacyHandshakeResponse(key, fromHex(hv.legacyNonce), hv.formationId))).toBe(hv.legacyResponse);
  });

  async function pair(secretB = hv.secret, formationB = hv.formationId) {
    const clock = new ManualClock();
    const a = await newIdentity();
    const b = await newIdentity();
    return {
      a: new MutualHandshake({ formationId: hv.formationId, formationSecret: hv.secret, identity: a, clock, random: seededRandom(1) }),
      b: new MutualHandshake({ formationId: formationB, formationSecret: secretB, identity: b, clock, random: seededRandom(2) }),
    };
  }

  async function run(init: MutualHandshake, resp: MutualHandshake) {
    const { state, message } = init.initiate();
    const hello = decodeHandshake(message) as { hello: Hello };
    const r = await resp.respond(hello.hello);
    const challenge = decodeHandshake(r.message) as { challenge: Challenge };
    const done = await init.complete(state, challenge.challenge);
    const response = decodeHandshake(done.message) as { step: 3; response: { mac: Uint8Array; signature: Uint8Array } };
    return { responderSees: resp.accept(r.state, response.response), initiatorSees: done.peer, hello: hello.hello };
  }

  it('the same secret is accepted in both directions, each side proving the other', async () => {
    const { a, b } = await pair();
    const ab = await run(a, b);
    expect(ab.responderSees.nodeId).toBe(a.nodeId);
    expect(ab.initiatorSees.nodeId).toBe(b.nodeId);
    const ba = await run(b, a);
    expect(ba.responderSees.nodeId).toBe(b.nodeId);
    expect(ba.initiatorSees.nodeId).toBe(a.nodeId);
  });

  it('a different secret is rejected (by the initiator, before it proves anything)', async () => {
    const { a, b } = await pair(Buffer.alloc(32, 9).toString('base64'));
    await expect(run(a, b)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(run(b, a)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('a mismatched formation id is rejected', async () => {
    const { a, b } = await pair(hv.secret, 'bravo-formation');
    await expect(run(a, b)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('formation') });
  });

  it('a replayed nonce is rejected', async () => {
    const { a, b } = await pair();
    const { ab } = { ab: await run(a, b) };
    await expect(b.respond(ab.hello)).rejects.toMatchObject({ code: 'REPLAY_DETECTED' });
  });

  it('a node id that is not the DeviceId of the presented key is rejected', async () => {
    const { a, b } = await pair();
    const { message } = a.initiate();
    const hello = (decodeHandshake(message) as { hello: Hello }).hello;
    await expect(b.respond({ ...hello, nodeId: 'f'.repeat(32) })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('over the mesh transport: same secret connects, a different secret never raises peerUp', async () => {
    sim = await Sim.create({ nodes: 2, secure: true });
    await sim.connect();
    expect(sim.nodes[0]!.transport.stats.handshakesOk + sim.nodes[1]!.transport.stats.handshakesOk).toBe(2);
    await sim.stop();
    const s = await Sim.create({ nodes: 2, secure: true, secrets: [hv.secret, Buffer.alloc(32, 5).toString('base64')] });
    sim = s;
    expect(await s.run(() => s.nodes.some((n) => n.replica.peers().length > 0), 20_000)).toBe(false);
    expect(s.nodes[0]!.transport.stats.handshakesFailed + s.nodes[1]!.transport.stats.handshakesFailed).toBeGreaterThan(0);
  });
});

describe('checklist 20: identity, certificates, RBAC', () => {
  it('the DeviceId vector passes', () => {
    expect(deviceIdFromPublicKey(fromHex(vectors.deviceId.publicKey))).toBe(vectors.deviceId.deviceId);
  });

  it('certificates are at least 148 bytes, round-trip, and carry the permission masks', async () => {
    const root = await newIdentity();
    const node = await newIdentity();
    const cert = await issueCertificate(root, { subjectPublicKey: node.publicKey, meshId: '', tier: Tier.Edge, permissions: Permission.STANDARD, issuedAtMs: 1 });
    const bytes = encodeCertificate({ ...cert, nodeId: '' });
    expect(bytes.length).toBe(MIN_CERTIFICATE_BYTES);
    expect(() => decodeCertificate(bytes.subarray(0, 147))).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    expect(decodeCertificate(encodeCertificate(cert))).toEqual(cert);
    expect([Permission.STANDARD, Permission.AUTHORITY]).toEqual([0x03, 0x87]);
  });

  it('trusts the root, a configured authority and one level of ENROLL delegation, nothing more', async () => {
    const clock = new ManualClock(10_000);
    const [root, authority, enroller, node, deeper, rogue] = await Promise.all([newIdentity(), newIdentity(), newIdentity(), newIdentity(), newIdentity(), newIdentity()]);
    const meshId = 'a1b2c3d4';
    const input = (subject: NodeIdentity, permissions: number, expiresAtMs = 0) => ({ subjectPublicKey: subject.publicKey, meshId, tier: Tier.Tactical, permissions, issuedAtMs: 5_000, expiresAtMs });
    const rootCert = await issueCertificate(root, input(root, Permission.AUTHORITY));
    const v = new CertificateValidator({ meshId, trustedIssuers: [root.publicKey, authority.publicKey], clock });
    expect(v.validate(rootCert)).toBe(rootCert);
    expect(v.validate(await issueCertificate(authority, input(node, Permission.STANDARD)))).toBeDefined();
    // delegation: an ENROLL holder issues member certificates
    const enrollCert = await issueCertificate(root, input(enroller, Permission.ENROLL | Permission.STANDARD));
    v.addEnroller(enrollCert);
    expect(v.validate(await issueCertificate(enroller, input(node, Permission.STANDARD)))).toBeDefined();
    // but not a second level, and never ENROLL itself
    await expect(async () => v.validate(await issueCertificate(enroller, input(deeper, Permission.ENROLL)))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    const delegatedEnroll = await issueCertificate(enroller, input(deeper, Permission.ENROLL));
    expect(() => v.addEnroller(delegatedEnroll)).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    // a cert without ENROLL cannot delegate
    const member = await issueCertificate(root, input(node, Permission.STANDARD));
    expect(() => v.addEnroller(member)).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    // untrusted issuer, tampering, expiry, wrong mesh
    await expect(async () => v.validate(await issueCertificate(rogue, input(node, Permission.STANDARD)))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const good = await issueCertificate(root, input(node, Permission.STANDARD, 20_000));
    expect(() => v.validate({ ...good, permissions: Permission.AUTHORITY })).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    expect(() => v.validate({ ...good, meshId: 'other' })).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    clock.set(30_000);
    expect(() => v.validate(good)).toThrow(expect.objectContaining({ code: 'TOKEN_EXPIRED' }));
  });

  it('RBAC rejects unauthorized writes', () => {
    const rbac = new RoleBasedAuthorizer();
    const me = 'a'.repeat(32);
    const other = 'b'.repeat(32);
    expect(() => rbac.authorize({ signer: me, collection: 'node_states', id: me })).not.toThrow();
    expect(() => rbac.authorize({ signer: me, collection: 'node_states', id: other })).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    expect(() => rbac.authorize({ signer: me, collection: 'beacons', id: other })).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    // a member writes its own entry of a cell it joins; an observer may not write cells at all
    expect(() => rbac.authorize({ signer: me, collection: 'cells', id: 'c1' })).not.toThrow();
    const observer = 'c'.repeat(32);
    rbac.setRoles(observer, ['observer']);
    expect(() => rbac.authorize({ signer: observer, collection: 'cells', id: 'c1' })).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    expect(() => rbac.authorize({ signer: me, collection: 'commands', id: 'x' })).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    expect(() => rbac.authorize({ signer: me, collection: 'deployment_directives', id: 'd' })).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    rbac.setRoles(me, ['leader']);
    expect(() => rbac.authorize({ signer: me, collection: 'cells', id: 'c1' })).not.toThrow();
    expect(() => rbac.authorize({ signer: me, collection: 'commands', id: 'x' })).not.toThrow();
    rbac.setRoles(other, ['commander']);
    expect(() => rbac.authorize({ signer: other, collection: 'deployment_directives', id: 'd' })).not.toThrow();
    expect(() => rbac.authorize({ signer: me, collection: 'deployment_status', id: `d:${me}` })).not.toThrow();
    expect(() => rbac.authorize({ signer: me, collection: 'deployment_status', id: `d:${other}` })).toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
  });

  it('the device challenge signs the challenge timestamp and rejects unknown or reused nonces', async () => {
    const clock = new ManualClock(1_700_000_123_456);
    const device = await newIdentity();
    const challenger = new DeviceChallenger('c'.repeat(32), { clock, random: seededRandom(3) });
    const challenge = challenger.issue();
    clock.advance(5_000);
    // answered later: the signature still covers the challenge's timestamp, not the responder's clock
    const answer = await answerChallenge(device, challenge);
    const input = challengeSigningInput(challenge);
    expect(new DataView(input.buffer, input.byteOffset + input.length - 8).getBigUint64(0, true)).toBe(1_700_000_123n);
    expect(challenger.verify(answer)).toBe(device.nodeId);
    expect(() => challenger.verify(answer)).toThrow(expect.objectContaining({ code: 'REPLAY_DETECTED' }));
    expect(() => challenger.verify({ ...answer, nonce: new Uint8Array(32).fill(4) })).toThrow(expect.objectContaining({ code: 'REPLAY_DETECTED' }));
    const late = challenger.issue();
    clock.advance(31_000);
    expect(() => challenger.verify({ ...answer, nonce: late.nonce })).toThrow(expect.objectContaining({ code: 'TOKEN_EXPIRED' }));
  });
});

describe('checklist 20: signed changes (§8.4) over a secure mesh', () => {
  /** Sends a crafted frame from node `from` to node `to` as an authenticated peer would. */
  async function inject(s: Sim, from: number, to: number, frames: Frame[]) {
    await s.nodes[from]!.transport.send(s.nodes[to]!.id, frames.length === 1 ? frames[0]! : encodeSyncBatch({ batchId: 1n, createdAt: 0, ttl: 5, frames }));
  }
  /** A sync message carrying a one-change document by `actor`, as sent to a peer that has nothing. */
  function forgedMessage(actor: string): Uint8Array {
    const doc = A.change(A.init<Record<string, unknown>>({ actor }), (d) => {
      d['v'] = 666;
    });
    const [, theirFirst] = A.generateSyncMessage(A.init(), A.initSyncState());
    const [, state] = A.receiveSyncMessage(doc, A.initSyncState(), theirFirst!);
    return A.generateSyncMessage(doc, state)[1]!;
  }

  it('signs local changes and applies verified ones', async () => {
    sim = await Sim.create({ nodes: 2, secure: true });
    await sim.connect();
    await sim.nodes[0]!.replica.put('events', 'e', { v: 1 });
    expect(await sim.converge('events', 'e')).toBe(true);
    expect(sim.nodes[1]!.replica.stats.rejected).toBe(0);
  });

  it('rejects a change with no signature, a tampered signature, a signer who is not the author, and an RBAC violation', async () => {
    sim = await Sim.create({ nodes: 2, secure: true });
    await sim.connect();
    const s = sim;
    const [victim, mallory] = s.nodes;
    const rejected: string[] = [];
    victim!.replica.onRejected((e) => rejected.push(e.error.code));
    const malloryId = mallory!.identity!;

    const send = async (key: string, actor: string, sign: ((hash: string) => Promise<{ hash: Uint8Array; signer: Uint8Array; signature: Uint8Array }>) | undefined) => {
      const withChanges = forgedMessage(actor);
      const hashes = changesInSyncMessage(withChanges).map((c) => c.hash);
      expect(hashes.length).toBe(1);
      const frames: Frame[] = [];
      if (sign) frames.push(encodeChangeSignatures(key, await Promise.all(hashes.map(sign))));
      frames.push({ key, type: FrameType.DeltaSync, payload: withChanges });
      await inject(s, 1, 0, frames);
      await s.run(() => false, 500);
    };
    const malloryActor = malloryId.nodeId + '01020304';
    const victimActor = victim!.id + '01020304';

    // 1. no signature at all
    await send('events:x1', malloryActor, undefined);
    // 2. a signature that does not verify
    await send('events:x2', malloryActor, async (h) => ({ ...(await signChange(malloryId, 'events:x2', h)), signature: new Uint8Array(64).fill(1) }));
    // 3. a valid signature by mallory on a change that claims the victim as its author
    await send('events:x3', victimActor, (h) => signChange(malloryId, 'events:x3', h));
    // 4. correctly signed by its author, but mallory may not write the victim's node state
    await send(`node_states:${victim!.id}`, malloryActor, (h) => signChange(malloryId, `node_states:${victim!.id}`, h));
    // 5. signed for another document (signature bound to the doc key)
    await send('events:x5', malloryActor, (h) => signChange(malloryId, 'events:other', h));

    expect(rejected).toEqual(['SIGNATURE_INVALID', 'SIGNATURE_INVALID', 'SIGNATURE_INVALID', 'PERMISSION_DENIED', 'SIGNATURE_INVALID']);
    for (const k of ['x1', 'x2', 'x3', 'x5']) expect(await victim!.replica.get('events', k)).toBeUndefined();
    expect(await victim!.replica.get('node_states', victim!.id)).toBeUndefined();

    // and the honest path still works: mallory's own, properly signed change is applied
    await send('events:ok', malloryActor, (h) => signChange(malloryId, 'events:ok', h));
    expect(await victim!.replica.get('events', 'ok')).toMatchObject({ v: 666 });
  });

  it('rejects changes from a signer without a valid membership certificate', async () => {
    const members = new Set<string>();
    sim = await Sim.create({ nodes: 2, secure: true, replica: { signedChanges: { isMember: (id) => members.has(id) } } });
    await sim.connect();
    const rejected: string[] = [];
    sim.nodes[1]!.replica.onRejected((e) => rejected.push(e.error.code));
    await sim.nodes[0]!.replica.put('events', 'e', { v: 1 });
    await sim.run(() => false, 2_000);
    expect(rejected[0]).toBe('PERMISSION_DENIED');
    expect(await sim.nodes[1]!.replica.get('events', 'e')).toBeUndefined();
    members.add(sim.nodes[0]!.id);
    expect(await sim.converge('events', 'e', 20_000)).toBe(true);
  });
});
