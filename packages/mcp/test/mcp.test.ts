// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it } from '@jest/globals';
import { EVENT_TYPES, isEcpsError, isUuid, type EcpsErrorCode } from '@ecps/core';
import { MCP } from '@ecps/proto';
import { encodeEvent } from '@ecps/serialization';
import { waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { createMcp, createMcpMessage, mcpFromEvent, type McpPrompt } from '../src/index';

function codeOf(fn: () => unknown): EcpsErrorCode | undefined {
  try {
    fn();
  } catch (e) {
    return isEcpsError(e) ? e.code : undefined;
  }
  return undefined;
}

describe('MCP messages (spec §3, §7.1)', () => {
  it('builds mcp/1.0 with a UUID v4 id, tool JSON and meta', () => {
    const m = createMcpMessage({ prompt: 'pick the red cube', tools: { tools: [{ name: 'grip' }] }, meta: { lang: 'en' } });
    expect(m.spec).toBe('mcp/1.0');
    expect(isUuid(m.id)).toBe(true);
    expect(JSON.parse(new TextDecoder().decode(m.toolJson))).toEqual({ tools: [{ name: 'grip' }] });
    expect(m.meta).toEqual({ lang: 'en' });
    expect(createMcpMessage({ prompt: 'x', id: 'given' }).id).toBe('given');
    expect(createMcpMessage({ prompt: 'x' }).toolJson).toHaveLength(0);
  });

  it('accepts exactly 16384 UTF-8 bytes and rejects one more, counting bytes not characters', () => {
    expect(createMcpMessage({ prompt: 'a'.repeat(16384) }).prompt).toHaveLength(16384);
    expect(codeOf(() => createMcpMessage({ prompt: 'a'.repeat(16385) }))).toBe('PROMPT_TOO_LARGE');
    // 4096 four-byte characters = 16384 bytes; one more two-byte character exceeds it
    expect(codeOf(() => createMcpMessage({ prompt: '😀'.repeat(4096) }))).toBeUndefined();
    expect(codeOf(() => createMcpMessage({ prompt: `${'😀'.repeat(4096)}é` }))).toBe('PROMPT_TOO_LARGE');
  });

  it('rejects invalid tool JSON and non-string meta', () => {
    expect(codeOf(() => createMcpMessage({ prompt: 'x', tools: '{"a":' }))).toBe('INVALID_TOOL_JSON');
    expect(codeOf(() => createMcpMessage({ prompt: 'x', tools: new Uint8Array([0xff, 0xfe]) }))).toBe('INVALID_TOOL_JSON');
    expect(codeOf(() => createMcpMessage({ prompt: 'x', tools: () => 1 }))).toBe('INVALID_TOOL_JSON');
    expect(codeOf(() => createMcpMessage({ prompt: 'x', meta: { a: 1 as unknown as string } }))).toBe('INVALID_ARGUMENT');
  });

  it('checks received messages: spec, size, tool JSON; fills an empty id from the CloudEvents id', () => {
    const base: MCP = { spec: 'mcp/1.0', id: '', prompt: 'hi', toolJson: new Uint8Array(0), meta: {} };
    const ev = (m: MCP) => encodeEvent('MCP', m, { source: 'urn:ecps:x', id: 'ce-id' });
    expect(mcpFromEvent(ev(base))).toMatchObject({ id: 'ce-id', prompt: 'hi', source: 'urn:ecps:x', tools: undefined });
    expect(mcpFromEvent(ev({ ...base, spec: 'mcp/1.7' })).spec).toBe('mcp/1.7');
    for (const [patch, code] of [
      [{ spec: 'mcp/2.0' }, 'UNSUPPORTED_VERSION'],
      [{ spec: 'uep/1.0' }, 'UNSUPPORTED_VERSION'],
      [{ spec: '' }, 'UNSUPPORTED_VERSION'],
      [{ prompt: 'x'.repeat(16385) }, 'PROMPT_TOO_LARGE'],
      [{ toolJson: new TextEncoder().encode('nope') }, 'INVALID_TOOL_JSON'],
    ] as const) {
      expect(codeOf(() => mcpFromEvent(ev({ ...base, ...patch })))).toBe(code);
    }
    expect(codeOf(() => mcpFromEvent({ ...ev(base), data: new Uint8Array([0x0a, 0x10]) }))).toBe('DECODE_ERROR');
    expect(codeOf(() => mcpFromEvent({ ...ev(base), type: EVENT_TYPES.eap }))).toBe('DECODE_ERROR');
  });
});

describe('createMcp over the memory transport', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  function nodes() {
    const bus = new MemoryBus();
    const ta = memoryTransport({ nodeId: 'planner', bus });
    const tb = memoryTransport({ nodeId: 'robot', bus });
    const planner = createMcp({ transport: ta, nodeId: 'planner' });
    const robot = createMcp({ transport: tb, nodeId: 'robot' });
    cleanup.push(async () => {
      await planner.close();
      await robot.close();
      await ta.close();
      await tb.close();
    });
    return { planner, robot, ta, tb };
  }

  it('sends prompts on topic mcp; the event id is the message id; invalid events go to onError', async () => {
    const { planner, robot, ta } = nodes();
    const got: McpPrompt[] = [];
    const errors: unknown[] = [];
    const seen: string[] = [];
    await robot.onPrompt((p) => void got.push(p), { onError: (e) => void errors.push(e) });
    await ta.subscribe('mcp', (e) => void seen.push(e.id));
    const sent = await planner.send({ prompt: 'go to the dock', tools: [{ name: 'navigate' }], meta: { priority: 'high' } });
    const big = { spec: 'mcp/1.0', id: 'big', prompt: 'x'.repeat(16385), toolJson: new Uint8Array(0), meta: {} };
    await ta.publish('mcp', encodeEvent('MCP', big, { source: 'urn:ecps:planner' }));
    await waitFor(() => got.length === 1 && errors.length === 1, 'prompt and error');
    expect(got[0]).toMatchObject({ id: sent.id, prompt: 'go to the dock', tools: [{ name: 'navigate' }], meta: { priority: 'high' }, source: 'urn:ecps:planner' });
    expect(seen[0]).toBe(sent.id);
    expect(errors[0]).toMatchObject({ code: 'PROMPT_TOO_LARGE' });
    await expect(planner.send('y'.repeat(20_000))).rejects.toMatchObject({ code: 'PROMPT_TOO_LARGE' });
  });

  it('request/response: replies, remote errors and timeouts', async () => {
    const { planner, robot } = nodes();
    await robot.serve((p) => {
      if (p.prompt === 'fail') throw new Error('model unavailable');
      return { prompt: `ack: ${p.prompt}`, meta: { in_reply_to: p.id } };
    });
    const reply = await planner.request({ prompt: 'status?', id: 'q1' });
    expect(reply).toMatchObject({ prompt: 'ack: status?', meta: { in_reply_to: 'q1' } });
    await expect(planner.request('fail')).rejects.toMatchObject({ code: 'REMOTE_ERROR' });
    const lonely = createMcp({ transport: memoryTransport({ nodeId: 'lonely', bus: new MemoryBus() }), nodeId: 'lonely' });
    await expect(lonely.request('anyone?', { timeoutMs: 50 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await lonely.close();
  });
});
