// Every layer of @ecps/runtime over DDS: createNode({ transport: ddsTransport(...) }) with LTP (chunking, acks),
// MCP (prompts and request/response), MEP (Put and the Query stream), EAP (actions and results), trust (signed
// traffic and request/reply on the fixed DDS topics, an intruder refused) and observability (spans, trace context).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { EcpsEvent } from '@ecps/core';
import { EapStatus } from '@ecps/eap';
import { createTensor, encodeTensorFrame, type ReceivedTensor } from '@ecps/ltp';
import type { McpPrompt } from '@ecps/mcp';
import type { LTP, MCP } from '@ecps/proto';
import { createNode, type EcpsNode, type NodeOptions } from '@ecps/runtime';
import { sleep, waitFor } from '@ecps/testkit';
import { KeyDirectory, SoftwareKeyProvider, softwareTrust, type TrustError } from '@ecps/trust';
import { ddsTransport } from '../src/index';
import { DOMAINS } from './domains';

const domainId = DOMAINS.runtime;
const nodes: EcpsNode[] = [];
async function ddsNode(id: string, options: Omit<NodeOptions, 'transport'> = {}): Promise<EcpsNode> {
  const node = await createNode({ id, eap: { log: false }, ...options, transport: ({ nodeId, profile }) => ddsTransport({ nodeId, domainId, profile: profile.name }) });
  nodes.push(node);
  return node;
}
afterEach(async () => {
  for (const n of nodes.splice(0).reverse()) await n.close();
});

const embedding = (values: number[], key: string) =>
  encodeTensorFrame(createTensor('f32', [values.length], Float32Array.from(values)), { frameId: 'clip', attributes: { mep_id: key } });

describe('@ecps/runtime over DDS', () => {
  it('LTP: a tensor larger than edge-lite frames goes in chunks, is reassembled and acknowledged', async () => {
    const camera = await ddsNode('camera', { profile: 'edge-lite' });
    const brain = await ddsNode('brain', { profile: 'edge-lite' });
    expect(camera.transport.kind).toBe('dds');
    const tensors: ReceivedTensor[] = [];
    await brain.ltp.subscribe('perception/rgb', (t) => void tensors.push(t));
    await sleep(100);
    let x = 88172645;
    const pixels = new Uint8Array(200_000).map(() => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 24));
    const sent = await camera.ltp.publish('perception/rgb', createTensor('u8', [200, 250, 4], pixels), { frameId: 'camera' });
    await waitFor(() => tensors.length === 1, 'the reassembled tensor', 10_000);
    expect(sent.chunks).toBeGreaterThanOrEqual(4);
    expect(tensors[0]).toMatchObject({ reassembled: true, sender: 'urn:ecps:camera', totalChunks: sent.chunks });
    expect(Buffer.compare(Buffer.from(tensors[0]!.tensor.data as Uint8Array), Buffer.from(pixels))).toBe(0);
    await waitFor(() => camera.ltp.stats().acksOk === 1, 'the ack of the chunked tensor', 5000);
  });

  it('MCP: prompts on topic mcp, and request/response through MCP.Prompt', async () => {
    const planner = await ddsNode('planner');
    const robot = await ddsNode('robot');
    const prompts: McpPrompt[] = [];
    await robot.mcp.onPrompt((p) => void prompts.push(p));
    await robot.mcp.serve((p) => ({ prompt: `done: ${p.prompt}` }));
    await sleep(100);
    await planner.mcp.send({ prompt: 'what do you see?', meta: { frame: 'camera' } });
    const reply = await planner.mcp.request('pick the cup', { timeoutMs: 5000 });
    await waitFor(() => prompts.length >= 1, 'the prompt', 5000);
    expect(prompts[0]).toMatchObject({ prompt: 'what do you see?', source: 'urn:ecps:planner', meta: { frame: 'camera' } });
    expect(reply.prompt).toBe('done: pick the cup');
  });

  it('MEP: Put request/reply and the Query server stream on MemoryStore.Put|Query/request|reply|stream', async () => {
    const memory = await ddsNode('memory', { mep: { store: { maxSize: 100 } } });
    const robot = await ddsNode('robot');
    expect((await robot.mep.client.put(await embedding([1, 0, 0], 'cup'))).success).toBe(true);
    expect((await robot.mep.client.put(await embedding([0, 1, 0], 'plate'))).success).toBe(true);
    expect(memory.mep.store!.keys()).toEqual(['cup', 'plate']);
    const hits: LTP[] = [];
    for await (const hit of robot.mep.client.query({ queryEmbedding: await embedding([0.9, 0.1, 0], 'q'), k: 2, minSim: 0 })) hits.push(hit);
    expect(hits.map((h) => h.attributes['mep_id'])).toEqual(['cup', 'plate']);
  });

  it('EAP: an action reaches the robot, its handler runs, the result comes back', async () => {
    const robot = await ddsNode('arm-1');
    const planner = await ddsNode('planner');
    robot.eap.onAction('gripper', (op) => ({ position: String(op.position) }));
    await sleep(100);
    const { result } = await planner.eap.send('gripper', { command: 'OPEN', position: 1 }, { snapshot: Uint8Array.of(1, 2, 3) });
    expect(result).toMatchObject({ status: EapStatus.EAP_STATUS_SUCCEEDED, detail: { position: '1' } });
  });

  it('trust: signed traffic and request/reply at AUTHENTICATED; an intruder is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecps-dds-trust-'));
    try {
      const keys = new KeyDirectory();
      const fleet = new SoftwareKeyProvider();
      const fleetKey = await fleet.generateKey('fleet', 'x25519');
      const sealing = { recipient: { keyId: 'fleet', algorithm: 'x25519' as const, publicKey: fleetKey.publicKey! }, provider: fleet };
      const rejected: TrustError[] = [];
      const trust = (id: string, keyDir: KeyDirectory) =>
        softwareTrust({ level: 'authenticated', keys: keyDir, keyFile: join(dir, `${id}.key`), passphrase: 'pw', kdf: { N: 2 ** 12 }, sealing, onReject: (e) => rejected.push(e) });
      const memory = await ddsNode('memory', { trust: trust('memory', keys), mep: { store: true } });
      const robot = await ddsNode('robot', { trust: trust('robot', keys) });
      const intruder = await ddsNode('intruder', { trust: trust('intruder', new KeyDirectory()) });
      expect(robot.trustLevel).toBe(2);
      expect(robot.transport.rpcTopics?.shared).toBe(true); // request/reply on {service}/request|reply|stream
      const got: string[] = [];
      await memory.subscribe('MCP', 'mcp', (m) => void got.push(m.id));
      await sleep(100);
      const prompt = (id: string): MCP => ({ spec: 'mcp/1.0', id, prompt: 'pick', toolJson: new Uint8Array(), meta: {} });
      await robot.publish('MCP', 'mcp', prompt('from-robot'));
      await intruder.publish('MCP', 'mcp', prompt('from-intruder'));
      expect((await robot.mep.client.put(await embedding([1, 0, 0], 'cup'))).success).toBe(true);
      const hits: LTP[] = [];
      for await (const hit of robot.mep.client.query({ queryEmbedding: await embedding([1, 0, 0], 'q'), k: 1, minSim: 0 })) hits.push(hit);
      expect(hits.map((h) => h.attributes['mep_id'])).toEqual(['cup']);
      await waitFor(() => got.length === 1 && rejected.length >= 1, 'one delivery, one rejection', 5000);
      await sleep(100);
      expect(got).toEqual(['from-robot']);
      expect(rejected.map((e) => e.code)).toContain('KEY_NOT_FOUND');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('observability: spans for what a traced node publishes, trace context carried in the envelope', async () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const controller = await ddsNode('controller', { observability: { tracerProvider } });
    const robot = await ddsNode('robot');
    const got: EcpsEvent[] = [];
    await robot.subscribe('MCP', 'mcp', (_m, event) => void got.push(event));
    await sleep(100);
    await controller.publish('MCP', 'mcp', { spec: 'mcp/1.0', id: 'p-1', prompt: 'wave', toolJson: new Uint8Array(), meta: {} });
    await waitFor(() => got.length === 1, 'the prompt', 5000);
    const span = exporter.getFinishedSpans().find((s) => s.name === 'publish mcp');
    expect(span).toMatchObject({ kind: SpanKind.PRODUCER });
    expect(span!.attributes['ecps.transport']).toBe('dds');
    expect(got[0]!.extensions?.['traceparent']).toBe(`00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01`);
  });
});
