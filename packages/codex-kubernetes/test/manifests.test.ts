// SPDX-License-Identifier: Apache-2.0
// deploy/kubernetes: rendered by `kubectl kustomize`, applied with `kubectl apply -k` to the testkit API server and
// read back with @kubernetes/client-node; and the Role shown to cover every request the driver makes, no more needed.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { newBot, openRegistry } from '@ecps/codex-registry';
import { kubectlPath, runKubectl, startKubernetesApiServer, type KubernetesApiServer } from '@ecps/testkit/kubernetes';
import { KubernetesDriver } from '../src/index';

const DEPLOY = fileURLToPath(new URL('../../../deploy/kubernetes', import.meta.url));
const NS = 'codex';
const kubectl = kubectlPath();
if (!kubectl) process.stdout.write('kubectl not installed (apt package kubernetes-client): the deploy/kubernetes suite is skipped\n');

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

let server: KubernetesApiServer;
let dir: string;
let kubeconfig: string;

async function render(overlay: string): Promise<k8s.KubernetesObject[]> {
  const out = await runKubectl(kubeconfig, ['kustomize', join(DEPLOY, 'overlays', overlay)]);
  expect(withoutDeprecations(out.stderr)).toBe('');
  expect(out.code).toBe(0);
  return k8s.loadAllYaml(out.stdout) as k8s.KubernetesObject[];
}

(kubectl ? describe : describe.skip)('deploy/kubernetes', () => {
  beforeAll(async () => {
    server = await startKubernetesApiServer({ namespaces: [NS] });
    dir = mkdtempSync(join(tmpdir(), 'codex-deploy-'));
    kubeconfig = await server.writeKubeconfig(dir, NS);
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders both overlays: probes on /health, secrets by reference, one replica, the store each overlay selects', async () => {
    for (const [overlay, backend] of [['json-store', 'json'], ['postgres', 'postgres']] as const) {
      const objects = await render(overlay);
      const kinds = objects.map((o) => o.kind).sort();
      expect(kinds).toEqual(expect.arrayContaining(['ConfigMap', 'Deployment', 'NetworkPolicy', 'NetworkPolicy', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']));
      const deployment = objects.find((o) => o.kind === 'Deployment') as k8s.V1Deployment;
      const container = deployment.spec!.template.spec!.containers[0]!;
      expect(deployment.spec?.replicas).toBe(1);
      expect(deployment.spec?.template.spec?.serviceAccountName).toBe('codex-server');
      for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) expect(probe?.httpGet?.path).toBe('/health');
      expect(container.env?.find((e) => e.name === 'API_SECRET_KEY')?.valueFrom?.secretKeyRef).toEqual({ name: 'codex-secrets', key: 'api-secret-key' });
      expect(container.env?.every((e) => e.value === undefined)).toBe(true);
      const config = objects.find((o) => o.kind === 'ConfigMap') as k8s.V1ConfigMap;
      expect(config.data?.['REGISTRY_BACKEND']).toBe(backend);
      if (backend === 'postgres') {
        expect(container.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'codex-database', key: 'url' });
        const policy = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata?.name === 'codex-server') as k8s.V1NetworkPolicy;
        expect(policy.spec?.egress?.some((e) => e.ports?.some((p) => p.port === 5432))).toBe(true);
      } else {
        expect(deployment.spec?.template.spec?.volumes?.find((v) => v.name === 'data')).toEqual({ name: 'data', persistentVolumeClaim: { claimName: 'codex-data' } });
        expect(kinds).toContain('PersistentVolumeClaim');
      }
    }
  });

  it('applies with kubectl and reads back with @kubernetes/client-node', async () => {
    const applied = await runKubectl(kubeconfig, ['apply', '--validate=false', '-n', NS, '-k', join(DEPLOY, 'overlays', 'json-store')]);
    expect(withoutDeprecations(applied.stderr)).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('deployment.apps/codex-server created');
    const kc = new k8s.KubeConfig();
    kc.loadFromString(server.kubeconfig(NS));
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const net = kc.makeApiClient(k8s.NetworkingV1Api);
    const deployment = await apps.readNamespacedDeployment({ namespace: NS, name: 'codex-server' });
    expect(deployment.spec?.strategy?.type).toBe('Recreate');
    expect((await core.readNamespacedConfigMap({ namespace: NS, name: 'codex-config' })).data?.['KUBERNETES_ENABLED']).toBe('true');
    expect((await core.readNamespacedService({ namespace: NS, name: 'codex-server' })).spec?.ports?.[0]?.targetPort).toBe('http');
    expect((await core.readNamespacedServiceAccount({ namespace: NS, name: 'codex-server' })).metadata?.name).toBe('codex-server');
    expect((await rbac.readNamespacedRoleBinding({ namespace: NS, name: 'codex-bot-manager' })).subjects).toEqual([{ kind: 'ServiceAccount', name: 'codex-server' }]);
    expect((await net.listNamespacedNetworkPolicy({ namespace: NS })).items.map((p) => p.metadata?.name).sort()).toEqual(['codex-bots-deny-ingress', 'codex-server']);
    // the controller runs the server's pod like any Deployment's
    await server.settled();
    expect(server.objects('pods', NS, 'app.kubernetes.io/name=codex-server')).toHaveLength(1);
    // applying again changes nothing that matters and succeeds (client-side apply of existing objects)
    const again = await runKubectl(kubeconfig, ['apply', '--validate=false', '-n', NS, '-k', join(DEPLOY, 'overlays', 'json-store')]);
    expect(again.code).toBe(0);
    const deleted = await runKubectl(kubeconfig, ['delete', '-n', NS, '-k', join(DEPLOY, 'overlays', 'json-store'), '--wait=false']);
    expect(deleted.code).toBe(0);
    expect(server.objects('deployments', NS)).toEqual([]);
  });

  it('the Role allows every request the driver makes through a bot lifecycle', async () => {
    const role = (await render('json-store')).find((o) => o.kind === 'Role') as unknown as { rules: Rule[] };
    const cluster = await startKubernetesApiServer({ namespaces: ['bots'] });
    const work = mkdtempSync(join(tmpdir(), 'codex-rbac-'));
    try {
      mkdirSync(join(work, 'bots'));
      writeFileSync(join(work, 'bots', 'b.py'), 'print("hi")\n');
      const registry = await openRegistry({ backend: 'json', file: join(work, 'registry.json') });
      const kc = new k8s.KubeConfig();
      kc.loadFromString(cluster.kubeconfig('bots'));
      const config = { namespace: 'bots', images: { python3: 'python:3.12-slim' }, imagePullSecrets: [], instance: 'codex', botServiceAccount: null, maxFailures: 0, stopTimeoutSec: 5, botsDirectory: join(work, 'bots'), logDir: join(work, 'logs'), resumeOnBoot: true };
      for (const stopMode of ['scale', 'delete'] as const) {
        const driver = await KubernetesDriver.create({ store: registry.bots, incidents: registry.incidents, kubeConfig: kc, config: { ...config, stopMode } });
        await driver.reconcile();
        const id = `rbac-${stopMode}`;
        await registry.bots.create(newBot({ id, name: id, blueprint: 'b.py', deployment_config: { deployment_type: 'kubernetes_pod' } }, Date.now()));
        await driver.start(id);
        for (let i = 0; i < 200 && (await registry.bots.get(id))?.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
        await driver.stop(id);
        await driver.start(id); // replaces the existing objects
        await cluster.settled();
        const [pod] = cluster.objects('pods', 'bots', `codex.ecps.dev/bot=${id}`);
        cluster.setContainer('bots', pod!.metadata.name, { state: 'crash' }); // maxFailures 0: quarantined, scaled to zero
        for (let i = 0; i < 200 && (await registry.bots.get(id))?.status !== 'error'; i++) await new Promise((r) => setTimeout(r, 10));
        expect((await registry.bots.get(id))?.status).toBe('error');
        await driver.delete(id);
        await driver.shutdown();
      }
      await registry.close();
      const needed = [...cluster.requests.keys()].map(toPermission).filter((p): p is Permission => p !== null);
      expect(needed.length).toBeGreaterThan(10);
      const missing = needed.filter((p) => !role.rules.some((r) => r.apiGroups.includes(p.group) && r.resources.includes(p.resource) && r.verbs.includes(p.verb)));
      expect(missing).toEqual([]);
      // and the watches are watches: pods are never polled one by one
      expect([...cluster.requests.keys()].filter((k) => k.startsWith('GET /api/v1/namespaces/bots/pods/') && !k.endsWith('/log'))).toEqual([]);
    } finally {
      await cluster.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});

/**
 * The manifests use the fields Debian's kubectl (kustomize v2) understands; current kustomize still reads them and
 * warns that they are deprecated. Any other output on stderr is a failure.
 */
function withoutDeprecations(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => line && !/^# Warning: '(bases|patchesStrategicMerge|patchesJson6902)' is deprecated/.test(line))
    .join('\n');
}

interface Permission {
  group: string;
  resource: string;
  verb: string;
}

/** `PATCH /apis/apps/v1/namespaces/bots/deployments/x/scale` → apps, deployments/scale, patch. */
function toPermission(request: string): Permission | null {
  const [method, path] = request.split(' ') as [string, string];
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/namespaces\/[^/]+\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(path);
  if (!m) return null;
  const [, group = '', resource, name, sub] = m;
  const verb = { WATCH: 'watch', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: name ? 'delete' : 'deletecollection', GET: name ? 'get' : 'list' }[method]!;
  return { group, resource: sub ? `${resource}/${sub}` : resource!, verb };
}
