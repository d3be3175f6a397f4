// SPDX-License-Identifier: Apache-2.0
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { newBot, openRegistry, type Bot, type Registry } from '@ecps/codex-registry';
import { BOT_ID_ANNOTATION, deploymentName, KubernetesDriver, managedSelector, type KubernetesDriverConfig } from '../src/index';
import { openTestCluster, type TestCluster } from './cluster';

const NS = `codex-k8s-${process.pid}`;
let cluster: TestCluster;
let dir: string;
let registry: Registry;
let driver: KubernetesDriver;
let apps: k8s.AppsV1Api;
let core: k8s.CoreV1Api;

const BLUEPRINTS = {
  'steady.py': 'import time\nprint("steady up", flush=True)\nwhile True:\n    time.sleep(1)\n',
  'crash.py': 'import sys\nprint("about to fail", flush=True)\nsys.exit(3)\n',
  'hog.py': 'blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n',
};

function config(): KubernetesDriverConfig {
  return {
    namespace: NS,
    images: { python3: 'python:3.12-slim' },
    imagePullSecrets: ['registry-cred'],
    stopMode: 'scale',
    instance: 'test',
    botServiceAccount: null,
    maxFailures: 1,
    stopTimeoutSec: cluster.real ? 120 : 5,
    botsDirectory: join(dir, 'bots'),
    logDir: join(dir, 'logs'),
    resumeOnBoot: true,
  };
}

async function until<T>(probe: () => Promise<T | undefined | false>, what: string, patienceMs = cluster.patienceMs): Promise<T> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const status = (id: string, wanted: Bot['status']) => until(async () => ((await registry.bots.get(id))?.status === wanted ? (await registry.bots.get(id))! : undefined), `bot ${id} ${wanted}`);
const podsOf = async (id: string) => (await core.listNamespacedPod({ namespace: NS, labelSelector: managedSelector({ instance: 'test' }) })).items.filter((p) => p.metadata?.annotations?.[BOT_ID_ANNOTATION] === id && !p.metadata.deletionTimestamp);
const readyPod = (id: string) => until(async () => (await podsOf(id)).find((p) => p.status?.containerStatuses?.every((c) => c.ready))?.metadata?.name, `a ready pod of ${id}`);

async function addBot(id: string, blueprint: keyof typeof BLUEPRINTS, deployment: Record<string, unknown> = {}): Promise<Bot> {
  return registry.bots.create(
    newBot({ id, name: id, blueprint, deployment_config: { deployment_type: 'kubernetes_pod', interpreter: 'python3', memory_limit: '64Mi', environment_vars: { API_TOKEN: 's3cret-value' }, ...deployment } }, Date.now()),
  );
}

beforeAll(async () => {
  cluster = await openTestCluster(NS);
  if (!cluster.real) process.stdout.write('ECPS_TEST_KUBECONFIG not set: the Kubernetes driver suite runs against the testkit API server, the real-cluster run is skipped\n');
  dir = mkdtempSync(join(tmpdir(), 'codex-k8s-'));
  mkdirSync(join(dir, 'bots'));
  for (const [name, source] of Object.entries(BLUEPRINTS)) writeFileSync(join(dir, 'bots', name), source);
  registry = await openRegistry({ backend: 'json', file: join(dir, 'registry.json') });
  driver = await KubernetesDriver.create({ store: registry.bots, incidents: registry.incidents, kubeConfig: cluster.kubeConfig, config: config() });
  apps = cluster.kubeConfig.makeApiClient(k8s.AppsV1Api);
  core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
}, 60_000);

afterAll(async () => {
  await driver.shutdown();
  await registry.close();
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

describe(`KubernetesDriver (${process.env['ECPS_TEST_KUBECONFIG'] ? 'real cluster' : 'testkit API server'})`, () => {
  it('starts a bot as a Deployment: limits, labels, secrets by reference only, running once a pod is ready, logs streamed', async () => {
    await addBot('steady', 'steady.py', { health_check: { type: 'tcp', port: 8080, interval_sec: 5, failure_threshold: 2 } });
    const started = await driver.start('steady');
    expect(started.status).toBe('ok');
    const d = await apps.readNamespacedDeployment({ namespace: NS, name: deploymentName('steady') });
    const container = d.spec!.template.spec!.containers[0]!;
    expect(d.spec?.replicas).toBe(1);
    expect(container.resources).toEqual({ requests: { memory: '128Mi', cpu: '100m' }, limits: { memory: '64Mi', cpu: '500m' } });
    expect(container.envFrom).toEqual([{ secretRef: { name: `${deploymentName('steady')}-env` } }]);
    expect(container.env).toEqual([{ name: 'CODEX32_BOT_ID', value: 'steady' }, { name: 'PYTHONUNBUFFERED', value: '1' }]);
    expect(container.livenessProbe).toEqual({ tcpSocket: { port: 8080 }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 });
    expect(JSON.stringify(d)).not.toContain('s3cret-value');
    expect(d.spec!.template.spec!.imagePullSecrets).toEqual([{ name: 'registry-cred' }]);
    expect(d.metadata?.annotations?.[BOT_ID_ANNOTATION]).toBe('steady');
    const secret = await core.readNamespacedSecret({ namespace: NS, name: `${deploymentName('steady')}-env` });
    expect(Buffer.from(secret.data?.['API_TOKEN'] ?? '', 'base64').toString() || secret.stringData?.['API_TOKEN']).toBe('s3cret-value');
    const running = await status('steady', 'running');
    expect(running.desired_state).toBe('running');
    expect(running.k8s_deployment_name).toBe(deploymentName('steady'));
    expect(running.k8s_pod_name).toBe(await readyPod('steady'));
    expect(driver.running().map((r) => r.bot_id)).toContain('steady');
    expect((await driver.start('steady')).status).toBe('already_running');

    const pod = await readyPod('steady');
    cluster.appendLog(pod, 'steady up\n');
    await until(async () => (await driver.readLogs('steady')).includes('steady up'), 'the pod log in the bot log');
  });

  it('an OOM kill is a memory_limit_exceeded incident and a failure; the kubelet restart brings it back to running', async () => {
    await addBot('hog', 'hog.py');
    await driver.start('hog');
    if (!cluster.real) cluster.act(await readyPod('hog'), { state: 'oom-killed' }); // a real hog exhausts its 64Mi itself
    const incident = await until(async () => (await registry.incidents.tail({ bot_id: 'hog', kind: 'memory_limit_exceeded' }))[0], 'memory_limit_exceeded');
    expect(incident.message).toContain('OOMKilled');
    const bot = await until(async () => {
      const b = await registry.bots.get('hog');
      return b && b.failure_count >= 1 ? b : undefined;
    }, 'failure counted');
    expect(bot.error_count).toBeGreaterThanOrEqual(1);
    if (!cluster.real) await status('hog', 'running'); // on a real cluster the hog OOMs again and ends quarantined
  });

  it('a crash loop ends in quarantine: status error, Deployment scaled to zero, incidents recorded', async () => {
    await addBot('crashy', 'crash.py');
    await driver.start('crashy');
    if (!cluster.real) {
      const pod = await readyPod('crashy');
      cluster.act(pod, { state: 'crash', exitCode: 3 });
      await until(async () => (await registry.bots.get('crashy'))?.failure_count === 1, 'first failure');
      cluster.act(pod, { state: 'running' });
      cluster.act(pod, { state: 'crash', exitCode: 3 });
    }
    const quarantined = await status('crashy', 'error');
    expect(quarantined.quarantined_at).not.toBeNull();
    expect(quarantined.failure_count).toBe(2);
    const kinds = (await registry.incidents.tail({ bot_id: 'crashy' })).map((i) => i.kind);
    expect(kinds).toEqual(expect.arrayContaining(['exited', 'restart', 'quarantined']));
    expect((await apps.readNamespacedDeployment({ namespace: NS, name: deploymentName('crashy') })).spec?.replicas).toBe(0);
  });

  (process.env['ECPS_TEST_KUBECONFIG'] ? it.skip : it)('an image that cannot be pulled fails the start (S5) and leaves nothing running', async () => {
    await addBot('no-image', 'steady.py', { image_uri: 'registry.invalid/none:1' });
    await driver.start('no-image');
    const pod = await until(async () => (await podsOf('no-image'))[0]?.metadata?.name, 'the pod'); // left Pending by the test server
    cluster.act(pod, { state: 'waiting', reason: 'ImagePullBackOff', message: 'Back-off pulling image "registry.invalid/none:1"' });
    const failed = await status('no-image', 'failed');
    expect(failed.last_error).toBe('cannot start container: ImagePullBackOff: Back-off pulling image "registry.invalid/none:1"');
    expect(failed.error_count).toBe(1);
    expect((await apps.readNamespacedDeployment({ namespace: NS, name: deploymentName('no-image') })).spec?.replicas).toBe(0);
  });

  it('stops by scaling to zero: stopping, then stopped once the watch shows no pod', async () => {
    const result = await driver.stop('steady');
    expect(result.status).toBe('ok');
    expect(result.bot.status).toBe('stopped');
    expect(result.bot.desired_state).toBe('stopped');
    expect(result.bot).toMatchObject({ k8s_pod_name: null, k8s_deployment_name: deploymentName('steady') });
    expect((await apps.readNamespacedDeployment({ namespace: NS, name: deploymentName('steady') })).spec?.replicas).toBe(0);
    expect(await podsOf('steady')).toEqual([]);
    expect((await driver.stop('steady')).status).toBe('not_running');
  });

  it('after a Codex restart: adopts running bots, reports unknown Deployments without deleting them, reconciles the rest', async () => {
    await driver.start('steady');
    await status('steady', 'running');
    await addBot('vanished', 'steady.py');
    await driver.start('vanished');
    await status('vanished', 'running');
    await driver.shutdown();
    // while Codex is down: someone deletes one bot's Deployment, and a Deployment of ours appears for no known bot
    await apps.deleteNamespacedDeployment({ namespace: NS, name: deploymentName('vanished') });
    await until(async () => (await podsOf('vanished')).length === 0 || undefined, 'vanished pods gone');
    const stranger = structuredClone(await apps.readNamespacedDeployment({ namespace: NS, name: deploymentName('steady') }));
    stranger.metadata = { name: 'codex-bot-stranger', labels: stranger.metadata!.labels!, annotations: { [BOT_ID_ANNOTATION]: 'stranger' } };
    await apps.createNamespacedDeployment({ namespace: NS, body: { ...stranger, spec: { ...stranger.spec!, replicas: 0 } } });

    driver = await KubernetesDriver.create({ store: registry.bots, incidents: registry.incidents, kubeConfig: cluster.kubeConfig, config: { ...config(), resumeOnBoot: false } });
    const report = await driver.reconcile();
    expect(report.adopted).toContain('steady');
    expect(report.unknown).toEqual([{ deployment: 'codex-bot-stranger', bot_id: 'stranger' }]);
    expect(report.reconciled).toEqual(['vanished']);
    expect((await registry.bots.get('steady'))?.status).toBe('running');
    expect(await registry.bots.get('vanished')).toMatchObject({ status: 'stopped', k8s_pod_name: null, k8s_deployment_name: null });
    expect((await registry.incidents.tail({ bot_id: 'vanished', kind: 'reconciled' })).length).toBe(1);
    await apps.readNamespacedDeployment({ namespace: NS, name: 'codex-bot-stranger' }); // still there
    // the adopted bot is still watched: stopping it works
    expect((await driver.stop('steady')).bot.status).toBe('stopped');
  });

  it('deletes a bot with its Deployment, Secret and ConfigMap', async () => {
    expect(await driver.delete('crashy')).toBe(true);
    expect(await registry.bots.get('crashy')).toBeNull();
    const missing = await apps.readNamespacedDeployment({ namespace: NS, name: deploymentName('crashy') }).catch((e: unknown) => e);
    expect((missing as k8s.ApiException<unknown>).code).toBe(404);
    await expect(core.readNamespacedSecret({ namespace: NS, name: `${deploymentName('crashy')}-env` })).rejects.toBeInstanceOf(k8s.ApiException);
  });

  (process.env['ECPS_TEST_KUBECONFIG'] ? it.skip : it)('runs 100 bots at once and stops them all', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `fleet_${i}`);
    for (const id of ids) await addBot(id, 'steady.py');
    // ~4 requests a bot; @kubernetes/client-node opens a new TLS connection for each (about 20 ms here)
    await Promise.all(ids.map((id) => driver.start(id)));
    await until(async () => (await registry.bots.list({ status: 'running', limit: 1000 })).bots.filter((b) => b.id.startsWith('fleet_')).length === 100 || undefined, '100 running', 60_000);
    expect(new Set(ids.map(deploymentName)).size).toBe(100);
    await Promise.all(ids.map((id) => driver.stop(id)));
    expect((await registry.bots.list({ status: 'stopped', limit: 1000 })).bots.filter((b) => b.id.startsWith('fleet_')).length).toBe(100);
  }, 120_000);
});
