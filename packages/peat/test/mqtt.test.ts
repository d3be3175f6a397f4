// SPDX-License-Identifier: Apache-2.0
// Checklist item 16 over real Mosquitto (MQTT 5, @ecps/transport-mqtt): the convergence scenarios of the
// in-memory suite, with the mutual handshake and signed changes on (the broker is untrusted), and a seeded
// property run with loss, duplication, reordering and a partition that heals, injected on the MQTT transports.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Transport } from '@ecps/core';
import { NetworkPartition, faultyTransport, startMosquitto } from '@ecps/testkit';
import type { MosquittoHandle } from '@ecps/testkit';
import { SoftwareKeyProvider } from '@ecps/trust';
import { mqttTransport } from '@ecps/transport-mqtt';
import { policyFor } from '../src/policy';
import { PeatReplica } from '../src/replica';
import { MutualHandshake } from '../src/security/handshake';
import { identityFromKeyProvider } from '../src/security/identity';
import { orSetAdd } from '../src/store/document';
import { meshTransport } from '../src/transport/mesh-transport';
import type { MeshTransport } from '../src/transport/mesh-transport';
import { pubsubLink } from '../src/transport/pubsub-link';
import { SECRET } from './harness';

const SEEDS = Number(process.env['PEAT_MQTT_PROPERTY_RUNS'] ?? 6);

let broker: MosquittoHandle;
beforeAll(async () => {
  broker = await startMosquitto({ extraConfig: ['set_tcp_nodelay true'] });
}, 30_000);
afterAll(async () => {
  await broker.stop();
});

interface Node {
  id: string;
  replica: PeatReplica;
  mesh: MeshTransport;
  mqtt: Transport;
}
const keys = new SoftwareKeyProvider();
let keySeq = 0;
let running: Node[] = [];
let meshSeq = 0;

afterEach(async () => {
  for (const n of running) {
    await n.replica.stop();
    await n.mqtt.close();
  }
  running = [];
});

const policies = { events: { ...policyFor('events'), sets: ['members'] } };

async function start(count: number, wrap: (id: string, t: Transport) => Transport = (_, t) => t, meshId = `m${++meshSeq}`): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const keyId = `mqtt-${keySeq++}`;
    await keys.generateKey(keyId, 'ed25519');
    const identity = await identityFromKeyProvider(keys, keyId);
    const mqtt = mqttTransport({ url: broker.url, nodeId: identity.nodeId });
    await mqtt.connect();
    const mesh = meshTransport({
      link: pubsubLink({ transport: wrap(identity.nodeId, mqtt), meshId, nodeId: identity.nodeId }),
      handshake: new MutualHandshake({ formationId: meshId, formationSecret: SECRET, identity }),
      announceMs: 300,
      heartbeatMs: 1_000,
      handshakeTimeoutMs: 2_000,
    });
    const replica = await PeatReplica.open({ transport: mesh, identity, antiEntropyMs: 400, policies });
    await replica.start();
    const node = { id: identity.nodeId, replica, mesh, mqtt };
    nodes.push(node);
    running.push(node);
  }
  return nodes;
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const connected = (nodes: Node[]) => until('mesh', () => nodes.every((n) => n.replica.peers().length === nodes.length - 1));
async function same(nodes: Node[], collection: string, id: string): Promise<boolean> {
  const v = await Promise.all(nodes.map((n) => n.replica.get(collection, id)));
  return v.every((x) => x !== undefined && JSON.stringify(x) === JSON.stringify(v[0]));
}

describe('checklist 16: sync over MQTT 5 (Mosquitto), handshake and signed changes on', () => {
  it('2 nodes converge in both directions', async () => {
    const nodes = await start(2);
    await connected(nodes);
    await nodes[0]!.replica.put('events', 'e', { by: 0 });
    await until('a → b', () => same(nodes, 'events', 'e'));
    await nodes[1]!.replica.put('events', 'e', { by: 1 });
    await until('b → a', async () => (await nodes[0]!.replica.get('events', 'e'))?.['by'] === 1);
  });

  it('3 nodes converge in both directions; concurrent edits to different fields both survive', async () => {
    const nodes = await start(3);
    await connected(nodes);
    for (const [i, n] of nodes.entries()) await n.replica.put('events', `e${i}`, { i });
    await n(nodes, 2).replica.put('tracks', 't', { lat: 1 });
    for (let i = 0; i < 3; i++) await until(`e${i}`, () => same(nodes, 'events', `e${i}`));
    await until('track', () => same(nodes, 'tracks', 't'));
    await n(nodes, 0).replica.change('events', 'doc', (d) => {
      d['x'] = 0;
      d['y'] = 0;
    });
    await until('doc', () => same(nodes, 'events', 'doc'));
    await Promise.all([n(nodes, 0).replica.change('events', 'doc', (d) => void (d['x'] = 1)), n(nodes, 1).replica.change('events', 'doc', (d) => void (d['y'] = 2))]);
    await until('both fields', async () => (await same(nodes, 'events', 'doc')) && (await n(nodes, 2).replica.get('events', 'doc'))?.['x'] === 1);
    expect(await n(nodes, 2).replica.get('events', 'doc')).toMatchObject({ x: 1, y: 2 });
    // observers saw the remote changes, none was rejected
    expect(nodes.every((x) => x.replica.stats.rejected === 0)).toBe(true);
  });

  it('4 members → leader and leader → members both propagate', async () => {
    const nodes = await start(5);
    await connected(nodes);
    const [leader, ...members] = nodes;
    leader!.replica.setTopology({ children: members.map((m) => m.id), cellmates: members.map((m) => m.id) });
    for (const m of members) m.replica.setTopology({ parent: leader!.id });
    (leader!.replica.authorizer as { setRoles(id: string, r: string[]): void } | undefined)?.setRoles(leader!.id, ['leader']);
    for (const m of members) (m.replica.authorizer as { setRoles(id: string, r: string[]): void } | undefined)?.setRoles(leader!.id, ['leader']);
    for (const m of members) await m.replica.put('node_states', m.id, { fuel_minutes: 60 });
    await until('up', async () => (await leader!.replica.list('node_states')).length === 4);
    await leader!.replica.put('commands', 'c1', { action: 'hold' });
    await until('down', async () => (await Promise.all(members.map((m) => m.replica.get('commands', 'c1')))).every((v) => v?.['action'] === 'hold'));
  });

  it('a late joiner catches up through digests', async () => {
    const meshId = `late${meshSeq}`;
    const nodes = await start(2, undefined, meshId);
    await connected(nodes);
    for (let i = 0; i < 10; i++) await n(nodes, i % 2).replica.put('events', `e${i}`, { i });
    const [late] = await start(1, undefined, meshId);
    await until('late joiner', async () => (await late!.replica.list('events')).length === 10);
  });

  it(`${SEEDS} seeded runs with loss, duplication, reordering and a partition that heals converge without losing an acknowledged edit`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(1_000_000), fc.array(fc.tuple(fc.nat(2), fc.nat(1)), { minLength: 4, maxLength: 12 }), async (seed, edits) => {
        const partition = new NetworkPartition();
        const meshId = `p${seed}`;
        const nodes = await start(
          3,
          (id, t) => partition.wrap(id, faultyTransport(t, { seed: seed + id.charCodeAt(0), dropRate: 0.1, duplicateRate: 0.1, reorderRate: 0.1 })),
          meshId,
        );
        await connected(nodes);
        partition.split([nodes[0]!.id], [nodes[1]!.id, nodes[2]!.id]);
        const added: string[] = [];
        for (const [k, [node, doc]] of edits.entries()) {
          const member = `m${k}`;
          await nodes[node]!.replica.change('events', `d${doc}`, (d) => orSetAdd(d, 'members', member));
          added.push(`${doc}/${member}`);
          if (k === Math.floor(edits.length / 2)) partition.heal();
        }
        partition.heal();
        const docs = [...new Set(edits.map(([, doc]) => `d${doc}`))];
        await until(
          'replicas equal, holding every acknowledged add',
          async () => {
            for (const doc of docs) if (!(await same(nodes, 'events', doc))) return false;
            for (const a of added) {
              const [doc, member] = a.split('/') as [string, string];
              const v = (await nodes[0]!.replica.get('events', `d${doc}`))?.['members'] as Record<string, unknown> | undefined;
              if (!v || !(member in v)) return false;
            }
            return true;
          },
          30_000,
        );
        for (const nd of running.splice(0)) {
          await nd.replica.stop();
          await nd.mqtt.close();
        }
      }),
      { numRuns: SEEDS, seed: 7, endOnFailure: true },
    );
  }, 300_000);
});

function n(nodes: Node[], i: number): Node {
  return nodes[i]!;
}
