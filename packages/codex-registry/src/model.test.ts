// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { isCodexError } from './errors';
import { newBot, parseMemoryMb, replaceClientFields } from './model';

function reasonOf(body: unknown): string {
  try {
    newBot(body, 0);
    return 'ok';
  } catch (error) {
    return isCodexError(error) ? `${error.reason}:${error.errors.map((e) => e.path).join(',')}` : 'untyped';
  }
}

describe('bot model', () => {
  it('fills the defaults of a new bot and lower-cases its id', () => {
    const bot = newBot({ id: 'Alpha-1', name: 'Alpha', blueprint: 'alpha/main.py' }, Date.parse('2025-01-01T00:00:00Z'));
    expect(bot).toMatchObject({
      id: 'alpha-1', version: '1.0.0', role: 'worker', status: 'created', desired_state: 'stopped', revision: 1,
      created_at: '2025-01-01T00:00:00.000Z', k8s_pod_name: null,
      deployment_config: { deployment_type: 'local_process', interpreter: 'python3', memory_limit: '512Mi', isolation_level: 'minimal', health_check: { type: 'none' }, restart_policy: 'on-failure', identity: null },
    });
    expect(newBot({ id: 'a', name: 'A', blueprint: 'a.py', deployment_config: { extra_config: { auto_restart: false } } }, 0).deployment_config.restart_policy).toBe('never');
  });

  it.each([
    ['a missing id', { name: 'n', blueprint: 'a.py' }],
    ['a bad id', { id: 'has space', name: 'n', blueprint: 'a.py' }],
    ['an unknown field', { id: 'a', name: 'n', blueprint: 'a.py', colour: 'red' }],
    ['a client-supplied status', { id: 'a', name: 'n', blueprint: 'a.py', status: 'running' }],
    ['a blueprint with ..', { id: 'a', name: 'n', blueprint: 'x/../../etc/passwd' }],
    ['an absolute blueprint', { id: 'a', name: 'n', blueprint: '/etc/passwd' }],
    ['a control character in the name', { id: 'a', name: 'bell\u0007', blueprint: 'a.py' }],
    ['a lower-case environment variable', { id: 'a', name: 'n', blueprint: 'a.py', deployment_config: { environment_vars: { path: '/' } } }],
    ['an unknown isolation level', { id: 'a', name: 'n', blueprint: 'a.py', deployment_config: { isolation_level: 'vm' } }],
    ['a bad memory quantity', { id: 'a', name: 'n', blueprint: 'a.py', deployment_config: { memory_limit: '1TB' } }],
    ['an oversized extra_config', { id: 'a', name: 'n', blueprint: 'a.py', deployment_config: { extra_config: { x: 'y'.repeat(17_000) } } }],
    ['a bad identity', { id: 'a', name: 'n', blueprint: 'a.py', deployment_config: { identity: { kind: 'ecps_node', node_id: 'bad id' } } }],
  ])('rejects %s with a typed validation_error', (_what, body) => {
    expect(reasonOf(body)).toMatch(/^validation_error:/);
  });

  it('accepts a name with dots inside a blueprint segment and an ECPS identity', () => {
    expect(reasonOf({ id: 'a', name: 'n', blueprint: 'v1..2/a.py', deployment_config: { identity: { kind: 'ecps_node', node_id: 'arm-1', broker_url: 'mqtt://127.0.0.1:1883' } } })).toBe('ok');
  });

  it('replaces the client fields and keeps the server-owned ones', () => {
    const bot = { ...newBot({ id: 'a', name: 'A', blueprint: 'a.py' }, 0), status: 'running' as const, revision: 7 };
    const replaced = replaceClientFields(bot, { id: 'a', name: 'Renamed', blueprint: 'b.py' });
    expect(replaced).toMatchObject({ name: 'Renamed', blueprint: 'b.py', status: 'running', revision: 7 });
    expect(reasonOf({ id: 'b', name: 'x', blueprint: 'b.py' })).toBe('ok');
    expect(() => replaceClientFields(bot, { id: 'b', name: 'x', blueprint: 'b.py' })).toThrow('does not match');
  });

  it('parses memory quantities to megabytes', () => {
    expect([parseMemoryMb('512Mi'), parseMemoryMb('1Gi'), parseMemoryMb('64')]).toEqual([512, 1024, 64]);
    expect(() => parseMemoryMb('1.5Gi')).toThrow('bad memory quantity');
  });
});
