// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { ManualClock } from '@ecps/core';
import { generateTestCertificates } from '@ecps/testkit';
import { AgentState, CommunicationClass, clientCredentials, createClient } from '@ecps/sw4rm';
import { LevelKvStore } from '@ecps/sw4rm-store';
import { Registry, startRegistry } from '../src/index';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'reg-'));
  dirs.push(d);
  return d;
};
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
      expect(await client.heartbeat({ agentId: 'a', state: AgentState.RUNNABLE, health: new Map([['cpu', '0.5']]) })).toEqual({ ok: true });
      expect(running.registry.get('a')).toMatchObject({ state: AgentState.RUNNABLE, health: new Map([['cpu', '0.5']]) });
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
    const r = new Registry({ clock, staleAfterMs: 90_000, onStale: (e) => stale.push(e.descriptor.agentId), stateTimeoutsMs: new Map() });
    await r.registerAgent({ agent: { agentId: 'a' } as never });
    clock.advance(89_000);
    expect(r.get('a')!.stale).toBe(false);
    clock.advance(2_000);
    expect(r.get('a')!.stale).toBe(true);
    clock.advance(3_600_000);
    expect(r.list().map((e) => e.descriptor.agentId)).toEqual(['a']);
    expect(stale).toEqual(['a']);
    await r.heartbeat({ agentId: 'a', state: 0, health: new Map() });
    expect(r.get('a')!.stale).toBe(false);
    r.close();
  });

  it('records off-table transitions with a warning instead of rejecting, and persists descriptors and heartbeat states', async () => {
    const warnings: string[] = [];
    const path = join(tmp(), 'state');
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => void warnings.push(m) };
    let store = await LevelKvStore.open(path);
    const r = await Registry.open({ logger, store, clock: new ManualClock() });
    await r.registerAgent({ agent: { agentId: 'a', name: 'kept' } as never });
    expect(await r.heartbeat({ agentId: 'a', state: AgentState.COMPLETED, health: new Map() })).toEqual({ ok: true });
    expect(warnings).toHaveLength(1);
    expect(r.get('a')!.state).toBe(AgentState.COMPLETED);
    r.close();
    await store.close();
    store = await LevelKvStore.open(path);
    const again = await Registry.open({ store, clock: new ManualClock() });
    expect(again.get('a')).toMatchObject({ descriptor: { name: 'kept' }, state: AgentState.COMPLETED, stale: true });
    await again.deregisterAgent({ agentId: 'a', reason: '' });
    again.close();
    await store.close();
    store = await LevelKvStore.open(path);
    expect((await Registry.open({ store })).list()).toEqual([]);
    await store.close();
  });

  it('applies the agent-state timeouts: a state held too long becomes FAILED (logged)', async () => {
    const clock = new ManualClock();
    const warnings: { m: string; f?: Record<string, unknown> }[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string, f?: Record<string, unknown>) => void warnings.push({ m, ...(f ? { f } : {}) }) };
    const r = new Registry({ clock, logger, staleAfterMs: 10_000_000 });
    await r.registerAgent({ agent: { agentId: 'slow-start' } as never });
    await r.registerAgent({ agent: { agentId: 'waiting' } as never });
    await r.heartbeat({ agentId: 'waiting', state: AgentState.RUNNABLE, health: new Map() });
    await r.heartbeat({ agentId: 'waiting', state: AgentState.WAITING, health: new Map() });
    clock.advance(59_000);
    expect(r.get('slow-start')!.state).toBe(AgentState.INITIALIZING);
    clock.advance(1000);
    await r.check();
    expect(r.get('slow-start')!.state).toBe(AgentState.FAILED_STATE);
    expect(warnings).toContainEqual({ m: 'agent state timed out', f: expect.objectContaining({ agentId: 'slow-start', trigger: 'initializing_timeout' }) });
    clock.advance(10_000_000); // WAITING has no timeout
    await r.check();
    expect(r.get('waiting')!.state).toBe(AgentState.WAITING);
    r.close();
  });
});

describe('registry with caller identity (mutual TLS)', () => {
  let pki: ReturnType<typeof generateTestCertificates>;
  beforeAll(() => {
    pki = generateTestCertificates({ clientNames: ['agent-a', 'agent-b'] });
  });

  it('an agent registers, heartbeats and deregisters only itself', async () => {
    const running = await startRegistry({ port: 0, tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca }, auth: { certificates: true } });
    const as = (cn: string) => createClient('registry', `localhost:${running.port}`, { credentials: clientCredentials({ ca: pki.ca, ...pki.clients[cn]! }), attempts: 1 });
    const a = as('agent-a');
    const b = as('agent-b');
    try {
      expect((await b.registerAgent({ agent: { agentId: 'agent-b' } })).accepted).toBe(true);
      await expect(a.registerAgent({ agent: { agentId: 'agent-b', name: 'hijacked' } })).rejects.toMatchObject({ grpcCode: status.PERMISSION_DENIED });
      await expect(a.heartbeat({ agentId: 'agent-b', state: AgentState.FAILED_STATE })).rejects.toMatchObject({ grpcCode: status.PERMISSION_DENIED });
      await expect(a.deregisterAgent({ agentId: 'agent-b' })).rejects.toMatchObject({ grpcCode: status.PERMISSION_DENIED });
      expect(running.registry.get('agent-b')).toMatchObject({ descriptor: { name: '' }, state: AgentState.INITIALIZING });
      expect(await b.deregisterAgent({ agentId: 'agent-b' })).toEqual({ ok: true });
    } finally {
      a.close();
      b.close();
      await running.stop();
    }
  }, 30_000);
});
