// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { waitFor } from '@ecps/testkit';
import { createTensor, type ReceivedTensor } from '@ecps/ltp';
import type { McpPrompt } from '@ecps/mcp';
import { createNode } from '../src/index';

describe('node layers', () => {
  it('node.ltp chunks by the profile and node.mcp carries prompts', async () => {
    const bus = new MemoryBus();
    const camera = await createNode({ id: 'camera', profile: 'edge-lite', transport: memoryTransport({ nodeId: 'camera', bus }) });
    const brain = await createNode({ id: 'brain', profile: 'edge-lite', transport: memoryTransport({ nodeId: 'brain', bus }) });
    const tensors: ReceivedTensor[] = [];
    const prompts: McpPrompt[] = [];
    await brain.ltp.subscribe('perception/rgb', (t) => void tensors.push(t));
    await brain.mcp.onPrompt((p) => void prompts.push(p));
    // 200 KB of noise does not fit edge-lite's 64 KiB frames
    let x = 88172645;
    const pixels = new Uint8Array(200_000).map(() => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 24));
    const sent = await camera.ltp.publish('perception/rgb', createTensor('u8', [200, 250, 4], pixels), { frameId: 'camera' });
    await camera.mcp.send({ prompt: 'what do you see?', meta: { frame: 'camera' } });
    await waitFor(() => tensors.length === 1 && prompts.length === 1, 'tensor and prompt');
    expect(sent.chunks).toBeGreaterThanOrEqual(4);
    expect(tensors[0]).toMatchObject({ reassembled: true, sender: 'urn:ecps:camera', totalChunks: sent.chunks });
    expect(Buffer.compare(Buffer.from(tensors[0]!.tensor.data as Uint8Array), Buffer.from(pixels))).toBe(0);
    expect(prompts[0]).toMatchObject({ prompt: 'what do you see?', source: 'urn:ecps:camera' });
    await camera.close();
    await brain.close();
    await expect(camera.ltp.publish('x', createTensor('u8', [1], new Uint8Array(1)))).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
