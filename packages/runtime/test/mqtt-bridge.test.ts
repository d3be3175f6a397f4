// SPDX-License-Identifier: Apache-2.0
// Two ECPS nodes on different Mosquittos joined by bridges (leaf A ↔ hub ↔ leaf B, every topic both ways): over
// MQTT 5 bridges every message type crosses (MCP both ways, MCP request/reply, an EAP action and its result, a chunked
// LTP tensor with its acks, MEP Put and the Query stream). Then the hub is killed with SIGKILL in the middle of a
// stream: nothing crosses while it is down (an action times out, QoS 0 tensors are lost). Mosquitto's MQTT 5 bridges
// send no Session Expiry Interval, so the hub forgets them when it dies; with MQTT 3.1.1 bridges and persistent
// sessions (ECPS nodes then speak 3.1.1, structured mode) every QoS 1 prompt published during the outage arrives.
import { afterAll, expect, it } from '@jest/globals';
import { startMosquittoBridge, sleep, waitFor, type MosquittoBridgeHandle } from '@ecps/testkit';
import { EapStatus } from '@ecps/eap';
import { createTensor, encodeTensorFrame, type ReceivedTensor } from '@ecps/ltp';
import type { McpPrompt } from '@ecps/mcp';
import type { LTP } from '@ecps/proto';
import { mqttTransport } from '@ecps/transport-mqtt';
import { createNode, type EcpsNode } from '../src/index';

const bridges: MosquittoBridgeHandle[] = [];
const nodes: EcpsNode[] = [];
afterAll(async () => {
  for (const node of nodes) await node.close();
  for (const bridge of bridges) await bridge.stop();
});

async function nodeOn(url: string, id: string, options: Partial<Parameters<typeof createNode>[0]> = {}, protocolVersion: 4 | 5 = 5): Promise<EcpsNode> {
  const node = await createNode({
    id,
    profile: 'cloud-fleet',
    transport: ({ nodeId }) => mqttTransport({ url, nodeId, profile: 'cloud-fleet', protocolVersion, reconnectBackoff: () => 100 }),
    eap: { log: false },
    ltp: { maxChunkSize: 16 * 1024, codec: 'none' },
    ...options,
  });
  nodes.push(node);
  return node;
}

const embedding = (values: number[], key: string) =>
  encodeTensorFrame(createTensor('f32', [values.length], Float32Array.from(values)), { frameId: 'clip', attributes: { mep_id: key } });
const snapshot = new TextEncoder().encode('what the planner saw');

it('carries every ECPS message type between nodes on two brokers bridged over MQTT 5; nothing crosses while the hub is down', async () => {
  const bridge = await startMosquittoBridge({ brokers: 3 });
  bridges.push(bridge);
  const [leafA, leafB] = bridge.leaves;
  const arm = await nodeOn(leafA!.url, 'arm', { mep: { store: true } });
  const planner = await nodeOn(leafB!.url, 'planner');

  const armPrompts: McpPrompt[] = [];
  const plannerPrompts: McpPrompt[] = [];
  const tensors: ReceivedTensor[] = [];
  let actionsRun = 0;
  // each node also hears its own prompts on `mcp`; keep the other's
  await arm.mcp.onPrompt((p) => void (p.source === 'urn:ecps:planner' && armPrompts.push(p)));
  await planner.mcp.onPrompt((p) => void (p.source === 'urn:ecps:arm' && plannerPrompts.push(p)));
  await arm.mcp.serve((p) => ({ prompt: `arm status for ${p.prompt}: ready` }));
  await arm.ltp.subscribe('perception/rgb', (t) => void tensors.push(t));
  arm.eap.onAction('gripper', (body) => {
    actionsRun++;
    return { position: String(body.position) };
  });

  // MCP both ways
  await planner.mcp.send({ prompt: 'pick up the cup', meta: { seq: 'hello' } });
  await arm.mcp.send('cup in view');
  await waitFor(() => armPrompts.length === 1 && plannerPrompts.length === 1, 'a prompt each way');
  expect([armPrompts[0]!.prompt, plannerPrompts[0]!.prompt]).toEqual(['pick up the cup', 'cup in view']);

  // MCP request/reply (the spec §9 request scheme: request on A's side served, reply back to B)
  expect((await planner.mcp.request('planner', { timeoutMs: 10_000 })).prompt).toBe('arm status for planner: ready');

  // EAP action to the arm, result back to the planner
  const outcome = await planner.eap.send('gripper', { command: 'CLOSE', position: 0.25, force_limit: 12 }, { to: 'arm', snapshot, timeoutMs: 10_000 });
  expect(outcome.result).toMatchObject({ status: EapStatus.EAP_STATUS_SUCCEEDED, nodeId: 'arm', detail: { position: '0.25' } });

  // LTP: a 100 KB tensor in 16 KiB chunks, reassembled on the other broker, its acks back
  const pixels = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) & 0xff);
  const sent = await planner.ltp.publish('perception/rgb', createTensor('u8', [100, 250, 4], pixels), { frameId: 'camera' });
  await waitFor(() => tensors.length === 1, 'the reassembled tensor');
  expect(sent.chunks).toBeGreaterThan(1);
  expect(tensors[0]).toMatchObject({ reassembled: true, sender: 'urn:ecps:planner' });
  expect(Buffer.compare(Buffer.from(tensors[0]!.tensor.data as Uint8Array), Buffer.from(pixels))).toBe(0);
  await waitFor(() => planner.ltp.stats().acksOk > 0, 'the receiver\'s LTP ack');

  // MEP: Put (unary request/reply) and Query (server stream) against the store the arm hosts
  expect((await planner.mep.client.put(await embedding([1, 0, 0], 'cup'))).success).toBe(true);
  expect((await planner.mep.client.put(await embedding([0, 1, 0], 'plate'))).success).toBe(true);
  const hits: LTP[] = [];
  for await (const hit of planner.mep.client.query({ queryEmbedding: await embedding([0.9, 0.1, 0], 'q'), k: 1, minSim: 0.5 })) hits.push(hit);
  expect(hits.map((h) => h.attributes['mep_id'])).toEqual(['cup']);

  // The hub dies: nothing crosses until it is back.
  await bridge.hub.kill9();
  const odometry: string[] = [];
  await arm.subscribe('LTP', 'telemetry/odom', (frame) => void odometry.push(frame.attributes['mep_id']!));
  for (let i = 0; i < 10; i++) await planner.publish('LTP', 'telemetry/odom', await embedding([i], `during-${i}`), { qos: 0 });
  await expect(planner.eap.send('gripper', { command: 'OPEN', position: 1, force_limit: 1 }, { to: 'arm', snapshot, timeoutMs: 1500 })).rejects.toMatchObject({ code: 'TIMEOUT' });
  expect(odometry).toEqual([]);

  await bridge.hub.restart();
  await bridge.bridged();
  await planner.publish('LTP', 'telemetry/odom', await embedding([0], 'after'), { qos: 0 });
  await waitFor(() => odometry.includes('after'), 'a QoS 0 tensor sent after the restart');
  expect(odometry).toEqual(['after']); // the 10 sent while the hub was down are gone: QoS 0 is not queued for a bridge
  expect(actionsRun).toBe(1); // the action sent during the outage never ran (had it come late, it was stale)
}, 90_000);

it('delivers every QoS 1 prompt published while the hub is down, over MQTT 3.1.1 bridges with persistent sessions', async () => {
  const bridge = await startMosquittoBridge({ brokers: 3, persistence: true, protocol: 'mqttv311' });
  bridges.push(bridge);
  const [leafA, leafB] = bridge.leaves;
  const arm = await nodeOn(leafA!.url, 'arm-311', {}, 4);
  const planner = await nodeOn(leafB!.url, 'planner-311', {}, 4);
  const seqs = new Set<number>();
  await arm.mcp.onPrompt((p) => void (p.source === 'urn:ecps:planner-311' && seqs.add(Number(p.meta['seq']))));
  const stream = (from: number, to: number) => Promise.all(Array.from({ length: to - from }, (_, i) => planner.mcp.send({ prompt: 'step', meta: { seq: String(from + i) } })));

  await stream(0, 100);
  await waitFor(() => seqs.size === 100, 'the first 100 prompts');
  await sleep(300); // the hub saves the bridges' sessions (on every change)
  await bridge.hub.kill9();
  await stream(100, 200); // acknowledged by leaf B, queued there for its bridge
  await sleep(500);
  expect(seqs.size).toBe(100); // the effect: nothing crosses while the hub is down

  await bridge.hub.restart();
  await waitFor(() => seqs.size === 200, 'every QoS 1 prompt published while the hub was down', 20_000).catch((error: unknown) => {
    throw new Error(`${String(error)}; ${seqs.size} of 200 arrived`);
  });
  expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
}, 60_000);
