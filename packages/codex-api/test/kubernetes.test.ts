// SPDX-License-Identifier: Apache-2.0
// kubernetes_pod bots through the API: with a cluster (the testkit Kubernetes server) they start and stop like local
// bots; without one the type is refused with 400 unsupported_deployment_type and nothing changes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startKubernetesApiServer, type KubernetesApiServer } from '@ecps/testkit/kubernetes';
import { createHarness, LOOP_BOT, type Harness } from './harness';

const NS = 'codex-bots';
let cluster: KubernetesApiServer;
let kubeDir: string;
let h: Harness;

beforeAll(async () => {
  cluster = await startKubernetesApiServer({ namespaces: [NS] });
  kubeDir = mkdtempSync(join(tmpdir(), 'codex-api-kube-'));
  const kubeconfig = await cluster.writeKubeconfig(kubeDir, NS);
  h = await createHarness({ KUBERNETES_ENABLED: 'true', KUBECONFIG: kubeconfig, KUBERNETES_NAMESPACE: NS, KUBERNETES_IMAGES: JSON.stringify({ node: 'node:20-slim' }), RATE_LIMIT_REQUESTS: '10000' });
  h.writeBot('k8s/main.js', LOOP_BOT);
}, 60_000);

afterAll(async () => {
  await h.close();
  await cluster.close();
  rmSync(kubeDir, { recursive: true, force: true });
});

async function statusOf(id: string, wanted: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 25))) {
    if ((await h.call('GET', `/api/v1/bots/${id}`, { token: h.tokens.viewer })).body.status === wanted) return;
  }
  throw new Error(`bot ${id} never became ${wanted}`);
}

describe('kubernetes_pod bots through the API', () => {
  it('offers kubernetes_pod, starts the bot as a Deployment and stops it', async () => {
    const caps = await h.call('GET', '/api/v1/self/capabilities', { token: h.tokens.admin });
    expect(caps.body.deployment_types).toContain('kubernetes_pod');
    expect((await h.call('GET', '/api/v1/dashboard/data', { token: h.tokens.viewer })).body.deployment_types).toContain('kubernetes_pod');
    const created = await h.call('POST', '/api/v1/bots', {
      token: h.tokens.admin,
      body: { id: 'podbot', name: 'Pod bot', blueprint: 'k8s/main.js', deployment_config: { deployment_type: 'kubernetes_pod', interpreter: 'node', environment_vars: { API_TOKEN: 'never-in-the-spec' } } },
    });
    expect(created.status).toBe(201);
    const started = await h.call('POST', '/api/v1/bots/podbot/start', { token: h.tokens.operator });
    expect(started.status).toBe(200);
    expect(started.body.status).toBe('ok');
    await statusOf('podbot', 'running');
    const [deployment] = cluster.objects('deployments', NS, 'codex.ecps.dev/bot=podbot');
    expect(deployment).toBeDefined();
    expect(JSON.stringify(deployment)).not.toContain('never-in-the-spec');
    const [pod] = cluster.objects('pods', NS, 'codex.ecps.dev/bot=podbot');
    cluster.appendLog(NS, pod!.metadata.name, 'hello from the pod\n');
    const logs = async () => JSON.stringify((await h.call('GET', '/api/v1/bots/podbot/logs', { token: h.tokens.viewer })).body);
    for (let i = 0; i < 100 && !(await logs()).includes('hello from the pod'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await logs()).toContain('hello from the pod');

    const stopped = await h.call('POST', '/api/v1/bots/podbot/stop', { token: h.tokens.operator });
    expect(stopped.status).toBe(200);
    expect(stopped.body.bot?.status ?? (await h.call('GET', '/api/v1/bots/podbot', { token: h.tokens.viewer })).body.status).toBe('stopped');
    expect(cluster.objects('pods', NS, 'codex.ecps.dev/bot=podbot')).toEqual([]);
  });
});

describe('kubernetes_pod without a cluster', () => {
  it('is a 400 unsupported_deployment_type and changes nothing', async () => {
    const plain = await createHarness();
    try {
      plain.writeBot('k8s/main.js', LOOP_BOT);
      await plain.call('POST', '/api/v1/bots', { token: plain.tokens.admin, body: { id: 'nopod', name: 'No pod', blueprint: 'k8s/main.js', deployment_config: { deployment_type: 'kubernetes_pod', interpreter: 'node' } } });
      const r = await plain.call('POST', '/api/v1/bots/nopod/start', { token: plain.tokens.operator });
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toContain('unsupported_deployment_type');
      expect((await plain.call('GET', '/api/v1/bots/nopod', { token: plain.tokens.viewer })).body.status).toBe('created');
    } finally {
      await plain.close();
    }
  });
});
