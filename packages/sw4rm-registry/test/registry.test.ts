// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import { AgentState, CommunicationClass, createClient } from '@ecps/sw4rm';
import { Registry, startRegistry } from '../src/index';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('registry (checklist 12)', () => {
  it('serves the RPCs over gRPC: unknown heartbeat/deregister false, re-register updates, explicit deregistration', async () => {
    const running = await startRegistry({ port: 0 });
    const client = createClient('registry', `127.0.0.1:${running.port}`);
    try {
      expect(await client.heartbeat({ agentId: 'ghost' })).toEqual({ ok: false });
      expect(await client.deregisterAgent({ agentId: 'ghost' })).toEqual({ ok: false });
      expect(await client.registerAgent({})).toEqual({ accepted: false, reason: 'validation_error: agent is required' });
      expect((await client.registerAgent({ agent: { agentId: 'a', description: 'word '.repeat(201) } as never })).reason).toMatch(/^validation_error: description has 201 words/);
      expect(await client.registerAgent({ agent: { agentId: 'a', name: 'A', capabilities: ['x'] } as never })).toEqual({ accepted: true, reason: '' });
      expect(running.registry.get('a')!.descriptor.communicationClass).toBe(CommunicationClass.STANDARD);
      expect(await client.registerAgent({ agent: { agentId: 'a', name: 'A2', communicationClass: CommunicationClass.PRIVILEGED } as never })).toEqual({ accepted: true, reason: '' });
      expect(running.registry.get('a')!.descriptor).toMatchObject({ name: 'A2', communicationClass: CommunicationClass.PRIVILEGED });
      expect(await client.heartbeat({ agentId: 'a', state: AgentState.RUNNABLE, health: { cpu: '0.5' } })).toEqual({ ok: true });
      expect(running.registry.get('a')).toMatchObject({ state: AgentState.RUNNABLE, health: { cpu: '0.5' } });
      expect(await client.deregisterAgent({ agentId: 'a', reason: 'bye' })).toEqual({ ok: true });
      expect(running.registry.list()).toEqual([]);
    } finally {
      client.close();
      await running.stop();
    }
  });

  it('marks agents stale after missed heartbeats and never evicts them; a heartbeat clears it', async () => {
    const clock = new ManualClock();
    const stale: string[] = [];
    const r = new Registry({ clock, staleAfterMs: 90_000, onStale: (e) => stale.push(e.descriptor.agentId) });
    await r.registerAgent({ agent: { agentId: 'a' } as never });
    clock.advance(89_000);
    expect(r.get('a')!.stale).toBe(false);
    clock.advance(2_000);
    expect(r.get('a')!.stale).toBe(true);
    clock.advance(3_600_000);
    expect(r.list().map((e) => e.descriptor.agentId)).toEqual(['a']);
    expect(stale).toEqual(['a']);
    await r.heartbeat({ agentId: 'a', state: 0, health: {} });
    expect(r.get('a')!.stale).toBe(false);
    r.close();
  });

  it('records off-table transitions with a warning instead of rejecting, and persists descriptors', async () => {
    const warnings: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'reg-'));
    dirs.push(dir);
    const path = join(dir, 'registry.json');
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => void warnings.push(m) };
    const r = new Registry({ logger, persistPath: path, clock: new ManualClock() });
    await r.registerAgent({ agent: { agentId: 'a', name: 'kept' } as never });
    expect(await r.heartbeat({ agentId: 'a', state: AgentState.COMPLETED, health: {} })).toEqual({ ok: true });
    expect(warnings).toHaveLength(1);
    expect(r.get('a')!.state).toBe(AgentState.COMPLETED);
    r.close();
    const again = new Registry({ persistPath: path, clock: new ManualClock() });
    expect(again.get('a')).toMatchObject({ descriptor: { name: 'kept' }, stale: true });
    again.close();
  });
});
