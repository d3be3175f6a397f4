// SPDX-License-Identifier: Apache-2.0
// ECPS_COORDINATION: nodes made from configuration alone run the task table and leader election of @ecps/tasks on a
// real 3-member etcd cluster (started by @ecps/testkit) or on a Raft KV cluster of ours, chosen by one setting; a
// missing backend package, a bad value and an unreachable cluster each fail the start with a typed error.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdCoordinationStore } from '@ecps/coordination-etcd';
import { KvStateMachine, MemoryStorage, RaftNode, serveKv, transportNetwork } from '@ecps/raft';
import { TaskRecord } from '@ecps/proto/ext/v1';
import { freePort, startEtcdCluster, waitFor, type EtcdClusterHandle } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import type { Subscription, Transport } from '@ecps/core';
import { createNodeFromConfig, redactSettings, resolveNodeSettings, type ConfiguredNode } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'ecps-runtime-coordination-'));
const nodes: ConfiguredNode[] = [];
afterAll(async () => {
  for (const n of nodes) await n.close();
  rmSync(dir, { recursive: true, force: true });
});

const task = (id: string) => ({ id, kind: 'pick', priority: 1, deadlineMs: 0n, requiredCapabilities: [], cost: 1, payload: new Uint8Array() });

/** Transports made for nodes and not closed yet. */
let openTransports = 0;

/** Every node of a test on one in-process bus; counts the transports it opens and closes. */
function onBus(bus: MemoryBus) {
  const factory = (o: { nodeId: string }) => {
    const transport = memoryTransport({ ...o, bus });
    const close = transport.close.bind(transport);
    openTransports++;
    transport.close = async () => {
      openTransports--;
      await close();
    };
    return transport;
  };
  return (name: string) => (name === '@ecps/transport-memory' ? Promise.resolve({ memoryTransport: factory }) : import(name));
}

async function start(env: Record<string, string>, bus = new MemoryBus()): Promise<ConfiguredNode> {
  const node = await createNodeFromConfig({ env: { ECPS_TRANSPORT: 'memory', ECPS_LOG_ENABLED: 'false', ...env }, importBackend: onBus(bus) });
  nodes.push(node);
  return node;
}

describe('ECPS_COORDINATION=etcd', () => {
  let etcd: EtcdClusterHandle;
  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
  }, 60_000);
  afterAll(async () => etcd?.stop());

  it('assigns each task once across two nodes, elects one leader, and keeps the table in etcd', async () => {
    // a YAML file names the backend, the environment the endpoints: the usual split between image and deployment
    const config = join(dir, 'fleet.yaml');
    writeFileSync(config, 'coordination:\n  backend: etcd\n  namespace: fleet-7/\n  timeoutMs: 5000\n');
    const env = { ECPS_CONFIG: config, ECPS_ETCD_ENDPOINTS: etcd.endpoints.join(',') };
    const a = await start({ ...env, ECPS_NODE_ID: 'scheduler-a' });
    const b = await start({ ...env, ECPS_NODE_ID: 'scheduler-b' });
    expect(a.coordination?.backend).toBe('etcd');
    expect(a.effectiveConfig.settings.etcd.endpoints).toEqual(etcd.endpoints);
    expect(a.effectiveConfig.sources).toMatchObject({ 'coordination.backend': 'file', 'etcd.endpoints': 'env' });

    expect(await a.coordination!.tasks.submit(task('t1'))).toBe(true);
    expect(await b.coordination!.tasks.submit(task('t1'))).toBe(false); // the other node sees it: one shared table
    const [ra, rb] = await Promise.all([a.coordination!.tasks.assign('t1', 'robot-a'), b.coordination!.tasks.assign('t1', 'robot-b')]);
    expect([ra.ok, rb.ok].filter(Boolean)).toHaveLength(1);
    const winner = ra.ok ? 'robot-a' : 'robot-b';
    expect(ra.agentId).toBe(winner);
    expect(rb.agentId).toBe(winner);

    // the record is in etcd under the namespace, as a separate etcd client reads it
    const direct = new EtcdCoordinationStore({ endpoints: etcd.endpoints });
    try {
      const { value } = await direct.get('fleet-7/tasks/t1');
      expect(value).toBeDefined();
      expect(TaskRecord.decode(value!)).toMatchObject({ agentId: winner, state: 'assigned' });
    } finally {
      direct.close();
    }

    const ea = a.coordination!.election('dispatcher', { ttlMs: 2_000 });
    const eb = b.coordination!.election('dispatcher', { ttlMs: 2_000 });
    await ea.campaign();
    const bCampaign = eb.campaign();
    expect(await eb.leader()).toBe('scheduler-a');
    expect(eb.isLeader()).toBe(false);
    await ea.resign(); // b takes over
    await bCampaign;
    expect(await ea.leader()).toBe('scheduler-b');
  }, 60_000);

  it('fails the start with TIMEOUT when no member answers, leaving nothing open', async () => {
    const port = await freePort();
    const before = openTransports;
    const error = await start({ ECPS_NODE_ID: 'lonely', ECPS_COORDINATION: 'etcd', ECPS_ETCD_ENDPOINTS: `http://127.0.0.1:${port}`, ECPS_COORDINATION_TIMEOUT_MS: '500' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect(openTransports).toBe(before); // the node's transport was closed again
  }, 20_000);
});

describe('ECPS_COORDINATION=raft', () => {
  const bus = new MemoryBus();
  const members = ['raft-1', 'raft-2', 'raft-3'];
  const opened: Array<{ node: RaftNode; transport: Transport; served: Subscription }> = [];
  beforeAll(async () => {
    for (const id of members) {
      const transport = memoryTransport({ nodeId: id, bus });
      await transport.connect();
      const store = new KvStateMachine();
      const node = await RaftNode.start({
        id,
        peers: { voters: members, learners: [] },
        storage: new MemoryStorage(),
        stateMachine: store,
        network: transportNetwork({ transport, clusterId: 'fleet', nodeId: id }),
        tickMs: 20,
      });
      opened.push({ node, transport, served: await serveKv({ transport, clusterId: 'fleet', node, store }) });
    }
    await waitFor(() => opened.some((m) => m.node.status().role === 'leader'), 'a Raft leader', 10_000);
  }, 30_000);
  afterAll(async () => {
    for (const m of opened) {
      await m.served.unsubscribe();
      await m.node.close();
      await m.transport.close();
    }
  });

  it('runs the same task table on the Raft KV cluster, reached over the node transport', async () => {
    const env = { ECPS_COORDINATION: 'raft', ECPS_RAFT_CLUSTER_ID: 'fleet', ECPS_RAFT_MEMBERS: members.join(', ') };
    const a = await start({ ...env, ECPS_NODE_ID: 'scheduler-a' }, bus);
    const b = await start({ ...env, ECPS_NODE_ID: 'scheduler-b' }, bus);
    expect(a.coordination?.backend).toBe('raft');
    expect(await a.coordination!.tasks.submit(task('t1'))).toBe(true);
    const [ra, rb] = await Promise.all([a.coordination!.tasks.assign('t1', 'robot-a'), b.coordination!.tasks.assign('t1', 'robot-b')]);
    expect([ra.ok, rb.ok].filter(Boolean)).toHaveLength(1);
    expect((await b.coordination!.tasks.get('t1'))?.agentId).toBe(ra.ok ? 'robot-a' : 'robot-b');
  }, 30_000);
});

describe('configuration errors', () => {
  const base = { ECPS_NODE_ID: 'n', ECPS_TRANSPORT: 'memory' };

  it('names the package to install when the backend is missing, before anything is opened', async () => {
    const before = openTransports;
    const missing = (name: string) => {
      if (name !== '@ecps/coordination-etcd') return onBus(new MemoryBus())(name);
      return Promise.reject(Object.assign(new Error(`Cannot find package '${name}' imported from /app`), { code: 'ERR_MODULE_NOT_FOUND' }));
    };
    const error = await createNodeFromConfig({ env: { ...base, ECPS_COORDINATION: 'etcd', ECPS_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' }, importBackend: missing }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      name: 'BackendMissingError',
      code: 'NOT_FOUND',
      details: { setting: 'ECPS_COORDINATION', backend: 'etcd', package: '@ecps/coordination-etcd' },
    });
    expect((error as Error).message).toContain('pnpm add @ecps/coordination-etcd');
    expect(openTransports).toBe(before); // no transport was made
  });

  it.each([
    [{ ECPS_COORDINATION: 'zookeeper' }, 'ECPS_COORDINATION'],
    [{ ECPS_COORDINATION: 'etcd' }, 'ECPS_ETCD_ENDPOINTS'],
    [{ ECPS_COORDINATION: 'etcd', ECPS_ETCD_ENDPOINTS: 'etcd-1:2379' }, 'ECPS_ETCD_ENDPOINTS'], // no scheme
    [{ ECPS_COORDINATION: 'etcd', ECPS_ETCD_ENDPOINTS: 'http://etcd-1:70000' }, 'ECPS_ETCD_ENDPOINTS'], // port out of range
    [{ ECPS_COORDINATION: 'etcd', ECPS_ETCD_ENDPOINTS: 'http://a:1,,http://b:2' }, 'ECPS_ETCD_ENDPOINTS'], // an empty item
    [{ ECPS_COORDINATION: 'etcd', ECPS_ETCD_ENDPOINTS: Array.from({ length: 17 }, (_, i) => `http://e${i}:2379`).join(',') }, 'ECPS_ETCD_ENDPOINTS'],
    [{ ECPS_ETCD_ENDPOINTS: 'http://a:1', ECPS_ETCD_PASSWORD: 'hunter2' }, 'ECPS_ETCD_PASSWORD'], // no user name
    [{ ECPS_COORDINATION_TIMEOUT_MS: '10' }, 'ECPS_COORDINATION_TIMEOUT_MS'],
    [{ ECPS_COORDINATION_NAMESPACE: 'a b' }, 'ECPS_COORDINATION_NAMESPACE'],
    [{ ECPS_COORDINATION: 'raft', ECPS_RAFT_MEMBERS: 'a,b,c' }, 'ECPS_RAFT_CLUSTER_ID'],
    [{ ECPS_COORDINATION: 'raft', ECPS_RAFT_CLUSTER_ID: 'fleet' }, 'ECPS_RAFT_MEMBERS'],
    [{ ECPS_RAFT_MEMBERS: 'a,b c' }, 'ECPS_RAFT_MEMBERS'],
  ])('%j is a ConfigError naming %s', async (env, setting) => {
    await expect(createNodeFromConfig({ env: { ...base, ...env } })).rejects.toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID', details: expect.objectContaining({ setting }) });
  });

  it('takes lists from a file, checks their items there too, and redacts the etcd password', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ nodeId: 'n', coordination: { backend: 'etcd' }, etcd: { endpoints: ['https://[::1]:2379', 'http://etcd-2.local:2379'], username: 'fleet', password: 'hunter2' } }));
    const { settings } = resolveNodeSettings({ env: { ECPS_CONFIG: good } });
    expect(settings.etcd.endpoints).toEqual(['https://[::1]:2379', 'http://etcd-2.local:2379']);
    expect(redactSettings(settings).etcd).toEqual({ endpoints: settings.etcd.endpoints, username: 'fleet', password: '<redacted>' });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ nodeId: 'n', etcd: { endpoints: ['http://a:1', 7] } }));
    expect(() => resolveNodeSettings({ env: { ECPS_CONFIG: bad } })).toThrow(expect.objectContaining({ details: { setting: 'etcd.endpoints (config file)', value: ['http://a:1', 7], source: 'file' } }));
    const secret = join(dir, 'secret.json');
    writeFileSync(secret, JSON.stringify({ nodeId: 'n', etcd: { password: ['x'] } }));
    expect(() => resolveNodeSettings({ env: { ECPS_CONFIG: secret } })).toThrow(expect.objectContaining({ details: expect.objectContaining({ value: '<redacted>' }) }));
  });
});
