// SPDX-License-Identifier: Apache-2.0
// What a bot can see: its scrubbed environment, its identity, its blueprint's confinement and its isolation level.
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { unprivilegedUser } from '@ecps/testkit';
import { isCodexError, type Bot } from '@ecps/codex-registry';
import { createHarness, eventually, type Harness } from './harness';

let h: Harness;
afterEach(async () => {
  await h.close();
  expect(h.botProcesses()).toEqual([]);
});

const HOST = { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', API_SECRET_KEY: 's3cret-s3cret-s3cret-s3cret-s3cret', DATABASE_URL: 'postgres://x', ALLOWED_TOKEN: 'visible', HOME: '/root' };
const PRINT_ENV = `env | sort; echo "---"; sleep 600`;
const get = (id: string) => h.registry.bots.get(id) as Promise<Bot>;
const envOf = async (id: string) => {
  const out = await eventually(() => h.supervisor.readLogs(id), (o) => o.includes('---'), 'the environment dump');
  return Object.fromEntries(out.split('---')[0]!.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
};

describe('environment and identity (checklist 18)', () => {
  it('a local bot sees the allow-list, its own variables and its ECPS identity, never API_SECRET_KEY or other host variables', async () => {
    h = await createHarness({ config: { envPassthrough: ['ALLOWED_TOKEN'] }, supervisor: { hostEnv: HOST } });
    const bot = await h.addBot('env.sh', PRINT_ENV, {
      deployment_config: {
        environment_vars: { MODE: 'demo' },
        identity: { kind: 'ecps_node', node_id: 'arm-1', broker_url: 'mqtt://127.0.0.1:1883', key_ref: 'file:/keys/arm-1.key', profile: 'edge-lite' },
      },
    });
    await h.supervisor.start(bot.id);
    const env = await envOf(bot.id);
    delete env['PWD']; // set by the shell itself
    expect(env).toEqual({
      PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', ALLOWED_TOKEN: 'visible', MODE: 'demo', CODEX32_BOT_ID: bot.id, PYTHONUNBUFFERED: '1',
      ECPS_NODE_ID: 'arm-1', ECPS_BROKER_URL: 'mqtt://127.0.0.1:1883', ECPS_KEY_REF: 'file:/keys/arm-1.key', ECPS_PROFILE: 'edge-lite',
    });
  });

  it('a SW4RM agent gets its agent id and service addresses', async () => {
    h = await createHarness({ supervisor: { hostEnv: HOST } });
    const bot = await h.addBot('agent.sh', PRINT_ENV, {
      deployment_config: { identity: { kind: 'sw4rm_agent', agent_id: 'planner-1', router_addr: '127.0.0.1:50051', registry_addr: '127.0.0.1:50052' } },
    });
    await h.supervisor.start(bot.id);
    expect(await envOf(bot.id)).toMatchObject({ SW4RM_AGENT_ID: 'planner-1', SW4RM_ROUTER_ADDR: '127.0.0.1:50051', SW4RM_REGISTRY_ADDR: '127.0.0.1:50052' });
  });

  it('kubernetes_pod is a 400 unsupported_deployment_type and changes nothing', async () => {
    h = await createHarness();
    const bot = await h.addBot('k8s.sh', 'sleep 1', { deployment_config: { deployment_type: 'kubernetes_pod' } });
    const error = await h.supervisor.start(bot.id).catch((e: unknown) => e);
    expect(isCodexError(error, 'unsupported_deployment_type') && error.status).toBe(400);
    expect(await get(bot.id)).toMatchObject({ status: 'created', revision: 1 });
  });

  it('a running kubernetes_pod bot (another driver runs it) is neither reconciled nor failed by this supervisor', async () => {
    h = await createHarness();
    const bot = await h.addBot('pod.sh', 'sleep 1', { deployment_config: { deployment_type: 'kubernetes_pod' } });
    await h.registry.bots.update(bot.id, (b) => ({ ...b, status: 'running', desired_state: 'running', started_at: b.created_at }));
    const report = await h.supervisor.reconcile();
    expect(report.reconciled).toEqual([]);
    await h.supervisor.tick();
    expect(await get(bot.id)).toMatchObject({ status: 'running', failure_count: 0 });
  });
});

describe('blueprints', () => {
  it('a missing script or one that escapes the bots directory through a symlink fails with "Bot script not found" (S4)', async () => {
    h = await createHarness();
    const missing = await h.registry.bots.create({ ...(await h.addBot('x.js', '')), id: `${h.prefix}-missing`, name: `${h.prefix}-missing`, blueprint: 'nope/main.js' });
    const error = await h.supervisor.start(missing.id).catch((e: unknown) => e);
    expect(isCodexError(error, 'script_not_found') && [error.status, error.message]).toEqual([400, 'Bot script not found: nope/main.js']);
    expect(await get(missing.id)).toMatchObject({ status: 'failed', error_count: 1, last_error: 'Bot script not found: nope/main.js' });
    symlinkSync('/etc/hostname', join(h.dir, 'bots', 'escape.js'));
    const escaping = await h.registry.bots.create({ ...(await get(missing.id)), id: `${h.prefix}-escape`, name: `${h.prefix}-escape`, blueprint: 'escape.js', status: 'created' });
    expect(isCodexError(await h.supervisor.start(escaping.id).catch((e: unknown) => e), 'script_not_found')).toBe(true);
  });
});

describe('isolation levels', () => {
  const user = unprivilegedUser();
  const sandboxConfig = user ? { sandboxUid: user.uid, sandboxGid: user.gid } : {};

  it('reports honestly which levels work here, and what each does not protect against', async () => {
    h = await createHarness({ config: sandboxConfig });
    const { levels } = h.supervisor.capabilities();
    if (user) {
      // as root: minimal would run bots as root, so it is refused; standard drops to the test uid
      expect(levels.minimal).toMatchObject({ available: false, reason: expect.stringContaining('runs as root') });
      expect(levels.standard.available).toBe(true);
    } else {
      expect(levels.minimal.available).toBe(true);
      expect(levels.standard.available).toBe(false); // setpriv needs root
    }
    for (const level of Object.values(levels)) expect(level.doesNotEnforce.length).toBeGreaterThan(0);
    expect(levels.strict.doesNotEnforce.join(' ')).toContain('not a virtual machine');
  });

  it('an unavailable level fails closed: status failed with "sandbox unavailable", never a silent downgrade', async () => {
    h = await createHarness(); // no SANDBOX_UID/GID: standard and strict cannot run
    const bot = await h.addBot('strict.sh', 'sleep 600', { deployment_config: { deployment_type: 'sandbox', isolation_level: 'strict' } });
    const error = await h.supervisor.start(bot.id).catch((e: unknown) => e);
    expect(isCodexError(error, 'sandbox_unavailable') && error.status).toBe(400);
    const failed = await get(bot.id);
    expect(failed.status).toBe('failed');
    expect(failed.last_error).toMatch(/^sandbox unavailable: /);
    expect(failed.deployment_config.deployment_type).toBe('sandbox'); // never rewritten
  });

  it('allow_local_fallback runs it as a local process and records a fallback incident', async () => {
    h = await createHarness();
    const bot = await h.addBot('fallback.sh', 'sleep 600', { deployment_config: { deployment_type: 'sandbox', isolation_level: 'strict', extra_config: { allow_local_fallback: true } } });
    expect((await h.supervisor.start(bot.id)).bot).toMatchObject({ status: 'running', sandbox_id: null, deployment_config: { deployment_type: 'sandbox' } });
    expect((await h.registry.incidents.tail({ bot_id: bot.id })).map((i) => i.kind)).toEqual(['fallback']);
  });

  const probeScript = [
    'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"',
    'echo "nofile=$(ulimit -n)"',
    'echo "cwd=$(pwd) home=$HOME"',
    'test -r /etc/passwd && echo etc=visible || echo etc=hidden',
    'touch /tmp/x 2>/dev/null && echo tmp=writable || echo tmp=no',
    'echo data > ./out.txt && echo work=writable',
    'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " | sort | tr "\\n" , | sed "s/^/net=/"; echo',
    `echo "API_SECRET_KEY=\${API_SECRET_KEY:-absent}"`,
    'echo "---"; sleep 600',
  ].join('\n');

  it.each(['standard', 'strict'] as const)('%s: runs as the sandbox uid with its limits, in its own work directory', async (level) => {
    h = await createHarness({ config: sandboxConfig, supervisor: { hostEnv: HOST } });
    const available = h.supervisor.capabilities().levels[level];
    const bot = await h.addBot(`${level}.sh`, probeScript, { deployment_config: { deployment_type: 'sandbox', isolation_level: level, memory_limit: '256Mi' } });
    if (!available.available) {
      expect(isCodexError(await h.supervisor.start(bot.id).catch((e: unknown) => e), 'sandbox_unavailable')).toBe(true);
      console.warn(`${level} isolation is not available here (${available.reason}); checked that it fails closed`);
      return;
    }
    const { bot: running } = await h.supervisor.start(bot.id);
    expect(running.sandbox_id).toMatch(new RegExp(`^sbx-${bot.id}-[0-9a-f]{8}$`));
    const out = await eventually(() => h.supervisor.readLogs(bot.id), (o) => o.includes('---'), 'the probe output');
    expect(out).toContain(`uid=${user!.uid} gid=${user!.gid} groups=${user!.gid}`);
    expect(out).toContain('nofile=1024');
    expect(out).toContain('work=writable');
    expect(out).toContain('API_SECRET_KEY=absent');
    if (level === 'strict') {
      expect(out).toContain('cwd=/work home=/work');
      expect(out).toContain('etc=hidden');
      expect(out).toContain('net=lo,'); // only a loopback interface of its own
    } else {
      expect(out).toContain(`cwd=${join(h.dir, 'sandbox', bot.id, 'work')}`);
    }
    const stopped = await h.supervisor.stop(bot.id);
    expect(stopped.bot.status).toBe('stopped');
  });
});
