// SPDX-License-Identifier: Apache-2.0
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { kubectlPath, runKubectl, startKubernetesApiServer, type KubernetesApiServer } from './index';
import { waitFor } from '../wait';

const NS = 'bots';
let server: KubernetesApiServer;
let kc: k8s.KubeConfig;
let apps: k8s.AppsV1Api;
let core: k8s.CoreV1Api;
let dir: string;

const deployment = (name: string, replicas = 1): k8s.V1Deployment => ({
  metadata: { name, labels: { 'app.kubernetes.io/name': name, tier: 'bot' } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name, tier: 'bot' } }, spec: { containers: [{ name: 'bot', image: 'python:3.12-slim' }] } },
  },
});
const statusOf = (error: unknown) => JSON.parse((error as { body: string }).body) as { kind: string; code: number; reason: string };

beforeAll(async () => {
  server = await startKubernetesApiServer({ namespaces: [NS], historyLimit: 50 });
  dir = await mkdtemp(join(tmpdir(), 'k8s-server-test-'));
  kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfig(NS));
  apps = kc.makeApiClient(k8s.AppsV1Api);
  core = kc.makeApiClient(k8s.CoreV1Api);
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('Kubernetes test API server with @kubernetes/client-node', () => {
  it('refuses a request without the bearer token (401 Status)', async () => {
    const bare = new k8s.KubeConfig();
    bare.loadFromString(server.kubeconfig(NS).replace(server.token, 'wrong'));
    const error = await bare.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: NS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(k8s.ApiException);
    expect((error as k8s.ApiException<unknown>).code).toBe(401);
  });

  it('turns a Deployment into running Pods, answers 404 and 409 as Status objects', async () => {
    const created = await apps.createNamespacedDeployment({ namespace: NS, body: deployment('alpha', 2) });
    expect(created.metadata?.generation).toBe(1);
    await server.settled();
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=alpha' });
    expect(pods.items).toHaveLength(2);
    expect(pods.items.every((p) => p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.ready)).toBe(true);
    expect(pods.items[0]!.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'alpha', uid: created.metadata?.uid });
    const read = await apps.readNamespacedDeployment({ namespace: NS, name: 'alpha' });
    expect(read.status).toMatchObject({ readyReplicas: 2, availableReplicas: 2, observedGeneration: 1 });

    expect(statusOf(await apps.readNamespacedDeployment({ namespace: NS, name: 'nope' }).catch((e: unknown) => e))).toMatchObject({ code: 404, reason: 'NotFound' });
    expect(statusOf(await apps.createNamespacedDeployment({ namespace: NS, body: deployment('alpha') }).catch((e: unknown) => e))).toMatchObject({ code: 409, reason: 'AlreadyExists' });
    expect(statusOf(await apps.createNamespacedDeployment({ namespace: 'missing', body: deployment('x') }).catch((e: unknown) => e))).toMatchObject({ code: 404 });
  });

  it('rejects a replace with a stale resourceVersion (409 Conflict) and bumps generation on spec changes', async () => {
    const current = await apps.readNamespacedDeployment({ namespace: NS, name: 'alpha' });
    const stale = structuredClone(current);
    current.spec!.template.spec!.containers[0]!.image = 'python:3.13-slim';
    const replaced = await apps.replaceNamespacedDeployment({ namespace: NS, name: 'alpha', body: current });
    expect(replaced.metadata?.generation).toBe(2);
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(Number(stale.metadata?.resourceVersion));
    const conflict = await apps.replaceNamespacedDeployment({ namespace: NS, name: 'alpha', body: stale }).catch((e: unknown) => e);
    expect(statusOf(conflict)).toMatchObject({ code: 409, reason: 'Conflict' });
    await server.settled();
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=alpha' });
    expect(pods.items.map((p) => p.spec?.containers[0]?.image)).toEqual(['python:3.13-slim', 'python:3.13-slim']);
  });

  it('streams ADDED, MODIFIED and DELETED through a watch, filtered by a set-based label selector', async () => {
    const events: string[] = [];
    const request = await new k8s.Watch(kc).watch(`/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app in (beta),tier' }, (type, pod: k8s.V1Pod) => events.push(`${type} ${pod.status?.phase ?? ''}`), () => undefined);
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('beta') });
    await waitFor(() => events.includes('MODIFIED Running'), "events.includes('MODIFIED Running')");
    expect(events[0]).toBe('ADDED Pending');
    await apps.deleteNamespacedDeployment({ namespace: NS, name: 'beta' });
    await waitFor(() => events.some((e) => e.startsWith('DELETED')), "events.some((e) => e.startsWith('DELETED'))");
    request.abort();
    expect(server.objects('pods', NS, 'app=beta')).toEqual([]);
  });

  it('resumes a watch from a resourceVersion and answers 410 Gone once it has been compacted away', async () => {
    const from = (await core.listNamespacedSecret({ namespace: NS })).metadata!.resourceVersion!;
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'resume-me' }, stringData: { TOKEN: 'x' } } });
    const seen: string[] = [];
    const request = await new k8s.Watch(kc).watch(`/api/v1/namespaces/${NS}/secrets`, { resourceVersion: from }, (type, s: k8s.V1Secret) => seen.push(`${type} ${s.metadata?.name}`), () => undefined);
    await waitFor(() => seen.length === 1, 'seen.length === 1');
    request.abort();
    expect(seen).toEqual(['ADDED resume-me']);
    for (let i = 0; i < 30; i++) await core.patchNamespacedSecret({ namespace: NS, name: 'resume-me', body: { metadata: { labels: { n: String(i) } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    const errors: { code?: number }[] = [];
    await new Promise<void>((resolve) => {
      void new k8s.Watch(kc).watch(`/api/v1/namespaces/${NS}/secrets`, { resourceVersion: '1' }, (type, object: { code?: number }) => type === 'ERROR' && errors.push(object), () => resolve());
    });
    expect(errors[0]).toMatchObject({ code: 410 });
  });

  it('scales through the scale subresource and reports crash loops and OOM kills in containerStatuses', async () => {
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('gamma') });
    await server.settled();
    await apps.patchNamespacedDeploymentScale({ namespace: NS, name: 'gamma', body: { spec: { replicas: 3 } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await server.settled();
    expect(server.objects('pods', NS, 'app=gamma')).toHaveLength(3);
    expect((await apps.readNamespacedDeploymentScale({ namespace: NS, name: 'gamma' })).spec?.replicas).toBe(3);
    const [first, second] = server.objects('pods', NS, 'app=gamma');
    server.setContainer(NS, first!.metadata.name, { state: 'crash', exitCode: 3 });
    server.setContainer(NS, second!.metadata.name, { state: 'oom-killed' });
    const crashed = await core.readNamespacedPodStatus({ namespace: NS, name: first!.metadata.name });
    expect(crashed.status?.containerStatuses?.[0]).toMatchObject({ restartCount: 1, ready: false, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 3 } } });
    const oom = await core.readNamespacedPod({ namespace: NS, name: second!.metadata.name });
    expect(oom.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    expect((await apps.readNamespacedDeployment({ namespace: NS, name: 'gamma' })).status?.readyReplicas).toBe(2);
    // a deleted pod is replaced, as a ReplicaSet would
    await core.deleteNamespacedPod({ namespace: NS, name: first!.metadata.name });
    await server.settled();
    expect(server.objects('pods', NS, 'app=gamma').map((p) => p.metadata.name)).not.toContain(first!.metadata.name);
    expect(server.objects('pods', NS, 'app=gamma')).toHaveLength(3);
  });

  it('serves pod logs, tailed and followed', async () => {
    const [pod] = server.objects('pods', NS, 'app=gamma');
    server.appendLog(NS, pod!.metadata.name, 'one\ntwo\n');
    expect(await core.readNamespacedPodLog({ namespace: NS, name: pod!.metadata.name, tailLines: 1 })).toBe('two\n');
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const request = await new k8s.Log(kc).log(NS, pod!.metadata.name, 'bot', out, { follow: true });
    await waitFor(() => text === 'one\ntwo\n', "text === 'one\\ntwo\\n'");
    server.appendLog(NS, pod!.metadata.name, 'three\n');
    await waitFor(() => text.endsWith('three\n'), "text.endsWith('three\\n')");
    request.abort();
  });
});

const kubectl = kubectlPath();
(kubectl ? describe : describe.skip)('Kubernetes test API server with kubectl', () => {
  it('applies, gets and deletes with kubectl', async () => {
    const config = await server.writeKubeconfig(dir, NS);
    const manifest = join(dir, 'm.json');
    await writeFile(manifest, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'apps/v1', kind: 'Deployment', ...deployment('delta') }, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'delta-env' }, stringData: { K: 'v' } }] }));
    const applied = await runKubectl(config, ['apply', '--validate=false', '-f', manifest]);
    expect(applied).toMatchObject({ code: 0 });
    expect(applied.stdout).toContain('deployment.apps/delta created');
    await server.settled();
    const got = JSON.parse((await runKubectl(config, ['get', 'pods', '-l', 'app=delta', '-o', 'json'])).stdout) as { items: k8s.V1Pod[] };
    expect(got.items).toHaveLength(1);
    expect((await apps.readNamespacedDeployment({ namespace: NS, name: 'delta' })).metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeDefined();
    const deleted = await runKubectl(config, ['delete', '-f', manifest]);
    expect(deleted).toMatchObject({ code: 0 });
    expect(server.objects('deployments', NS, 'app.kubernetes.io/name=delta')).toEqual([]);
    const missing = await runKubectl(config, ['get', 'deployment', 'delta']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('NotFound');
  });
});
if (!kubectl) process.stdout.write('kubectl not installed: the kubectl half of the Kubernetes test server suite is skipped\n');
