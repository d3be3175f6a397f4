// SPDX-License-Identifier: Apache-2.0
// A small Deployment controller and kubelet stand-in for the Kubernetes test server: it keeps each Deployment's
// Pods at `spec.replicas` (recreating deleted ones, replacing them when the template changes), starts them, keeps
// the Deployment's status, and lets a test drive container states (crash loops, OOM kills) and append log output.
import { createHash, randomBytes } from 'node:crypto';
import { findType } from './resources';
import { labelSelectorString, parseLabelSelector } from './selectors';
import type { KubeObject, ObjectStore, StoreEvent } from './store';

const DEPLOYMENTS = findType('apps', 'v1', 'deployments')!;
const PODS = findType('', 'v1', 'pods')!;

/** What a container of a test pod does next. */
export type ContainerScenario =
  | { state: 'running' }
  /** The container exits with `exitCode`; the kubelet backs off: waiting CrashLoopBackOff, restartCount + 1. */
  | { state: 'crash'; exitCode?: number; message?: string }
  /** The kernel kills the container for its memory limit: last state OOMKilled (137), restartCount + 1, then back up. */
  | { state: 'oom-killed' }
  /** Waiting with a reason such as ImagePullBackOff or ErrImagePull. */
  | { state: 'waiting'; reason: string; message?: string };

export interface PodLogs {
  /** Per `namespace/pod/container`, bounded. */
  text: Map<string, string>;
  followers: Map<string, Set<(chunk: string | null) => void>>;
}

const MAX_LOG_BYTES = 1024 * 1024;

export class TestController {
  private readonly logs: PodLogs = { text: new Map(), followers: new Map() };
  private readonly unsubscribe: () => void;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ObjectStore,
    private readonly options: { startPods: boolean | ((pod: KubeObject) => boolean) },
  ) {
    this.unsubscribe = store.subscribe((event) => this.onEvent(event));
  }

  close(): void {
    this.unsubscribe();
    for (const followers of this.logs.followers.values()) for (const f of followers) f(null);
  }

  /** Resolves once every reaction to changes so far (pod creation, status updates) has been applied. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** Sets the state of a pod's container (`container` defaults to the first) and updates phase and readiness. */
  setContainer(namespace: string, podName: string, scenario: ContainerScenario, container?: string): KubeObject {
    const pod = structuredClone(this.store.mustGet(PODS, namespace, podName));
    const statuses = (pod.status?.['containerStatuses'] as ContainerStatus[] | undefined) ?? initialStatuses(pod);
    const target = statuses.find((s) => s.name === (container ?? statuses[0]?.name));
    if (!target) throw new Error(`pod ${podName} has no container ${container ?? ''}`);
    const now = timestamp();
    switch (scenario.state) {
      case 'running':
        target.state = { running: { startedAt: now } };
        target.ready = true;
        target.started = true;
        break;
      case 'crash': {
        const exitCode = scenario.exitCode ?? 1;
        target.lastState = { terminated: { exitCode, reason: 'Error', message: scenario.message ?? '', startedAt: startedAt(target) ?? now, finishedAt: now } };
        target.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${target.name} in pod ${podName}` } };
        target.restartCount += 1;
        target.ready = false;
        target.started = false;
        break;
      }
      case 'oom-killed':
        target.lastState = { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: startedAt(target) ?? now, finishedAt: now } };
        target.state = { running: { startedAt: now } };
        target.restartCount += 1;
        target.ready = true;
        target.started = true;
        break;
      case 'waiting':
        target.state = { waiting: { reason: scenario.reason, ...(scenario.message ? { message: scenario.message } : {}) } };
        target.ready = false;
        target.started = false;
        break;
    }
    const allReady = statuses.every((s) => s.ready);
    const status = {
      ...(pod.status ?? {}),
      phase: statuses.some((s) => s.state['running'] || s.lastState?.['terminated']) ? 'Running' : 'Pending',
      conditions: [{ type: 'Ready', status: allReady ? 'True' : 'False', lastTransitionTime: now }],
      containerStatuses: statuses,
      startTime: pod.status?.['startTime'] ?? now,
    };
    const updated = this.store.update(PODS, namespace, podName, { ...pod, status }, 'status');
    this.refreshDeploymentOf(updated);
    return updated;
  }

  /** Appends output to a container's log (and to every `follow` stream of it). */
  appendLog(namespace: string, podName: string, text: string, container?: string): void {
    const pod = this.store.mustGet(PODS, namespace, podName);
    const key = `${namespace}/${podName}/${container ?? firstContainer(pod)}`;
    const next = (this.logs.text.get(key) ?? '') + text;
    this.logs.text.set(key, next.length > MAX_LOG_BYTES ? next.slice(next.length - MAX_LOG_BYTES) : next);
    for (const follower of this.logs.followers.get(key) ?? []) follower(text);
  }

  /** The log of a container so far, and (with `follow`) a way to receive what is appended until the pod is deleted. */
  readLog(namespace: string, pod: KubeObject, container: string | undefined, follow: ((chunk: string | null) => void) | null): { text: string; stop: () => void } {
    const key = `${namespace}/${pod.metadata.name}/${container ?? firstContainer(pod)}`;
    const text = this.logs.text.get(key) ?? '';
    if (!follow) return { text, stop: () => undefined };
    let set = this.logs.followers.get(key);
    if (!set) this.logs.followers.set(key, (set = new Set()));
    set.add(follow);
    return { text, stop: () => set.delete(follow) };
  }

  private onEvent(event: StoreEvent): void {
    if (event.resource === DEPLOYMENTS) {
      const { namespace, name } = event.object.metadata;
      this.enqueue(() => (event.type === 'DELETED' ? this.deleteOwnedPods(event.object) : this.reconcile(namespace!, name)));
    } else if (event.resource === PODS) {
      if (event.type === 'DELETED') {
        const prefix = `${event.object.metadata.namespace}/${event.object.metadata.name}/`;
        for (const [key, followers] of this.logs.followers) if (key.startsWith(prefix)) for (const f of followers) f(null);
        for (const key of [...this.logs.text.keys()]) if (key.startsWith(prefix)) this.logs.text.delete(key);
        const owner = event.object.metadata.ownerReferences?.find((o) => o.kind === 'Deployment');
        if (owner) this.enqueue(() => this.reconcile(event.object.metadata.namespace!, owner.name));
      } else if (event.type === 'ADDED' && (typeof this.options.startPods === 'function' ? this.options.startPods(event.object) : this.options.startPods)) {
        this.enqueue(() => this.startPod(event.object.metadata.namespace!, event.object.metadata.name));
      }
    }
  }

  private enqueue(fn: () => void): void {
    this.queue = this.queue.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(() => {
      try {
        fn();
      } catch {
        // the object changed under this reaction; the event that changed it queued another
      }
    });
  }

  private reconcile(namespace: string, name: string): void {
    const deployment = this.store.get(DEPLOYMENTS, namespace, name);
    if (!deployment) return;
    const spec = deployment.spec as { replicas?: number; template?: KubeObject; selector?: Parameters<typeof labelSelectorString>[0] } | undefined;
    const desired = spec?.replicas ?? 1;
    const template = spec?.template ?? ({} as KubeObject);
    const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
    const owned = this.ownedPods(deployment);
    for (const pod of owned) if (pod.metadata.labels?.['pod-template-hash'] !== hash) this.store.delete(PODS, namespace, pod.metadata.name);
    const current = owned.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash);
    for (const pod of current.slice(desired)) this.store.delete(PODS, namespace, pod.metadata.name);
    for (let i = current.length; i < desired; i++) {
      const podName = `${name}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`;
      this.store.create(
        PODS,
        namespace,
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            ...(template.metadata ?? {}),
            name: podName,
            namespace,
            labels: { ...(template.metadata?.labels ?? {}), 'pod-template-hash': hash },
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: deployment.metadata.uid, controller: true }],
          } as KubeObject['metadata'],
          spec: structuredClone(template.spec ?? {}),
          status: { phase: 'Pending' },
        },
        () => true,
      );
    }
    this.refreshDeployment(namespace, name);
  }

  private startPod(namespace: string, name: string): void {
    const pod = this.store.get(PODS, namespace, name);
    if (!pod || pod.status?.['containerStatuses']) return;
    this.setContainer(namespace, name, { state: 'running' });
  }

  private deleteOwnedPods(deployment: KubeObject): void {
    for (const pod of this.ownedPods(deployment)) this.store.delete(PODS, deployment.metadata.namespace!, pod.metadata.name);
  }

  private ownedPods(deployment: KubeObject): KubeObject[] {
    const selector = parseLabelSelector(labelSelectorString(deployment.spec?.['selector'] as Parameters<typeof labelSelectorString>[0]));
    return this.store
      .list(PODS, deployment.metadata.namespace!)
      .filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === deployment.metadata.uid) && selector(p.metadata.labels));
  }

  private refreshDeploymentOf(pod: KubeObject): void {
    const owner = pod.metadata.ownerReferences?.find((o) => o.kind === 'Deployment');
    if (owner) this.refreshDeployment(pod.metadata.namespace!, owner.name);
  }

  private refreshDeployment(namespace: string, name: string): void {
    const deployment = this.store.get(DEPLOYMENTS, namespace, name);
    if (!deployment) return;
    const pods = this.ownedPods(deployment);
    const ready = pods.filter((p) => (p.status?.['conditions'] as { type: string; status: string }[] | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    const desired = (deployment.spec?.['replicas'] as number | undefined) ?? 1;
    const status = {
      observedGeneration: deployment.metadata.generation,
      replicas: pods.length,
      updatedReplicas: pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      unavailableReplicas: Math.max(0, desired - ready),
      conditions: [{ type: 'Available', status: ready >= desired ? 'True' : 'False', reason: ready >= desired ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable' }],
    };
    if (JSON.stringify(status) !== JSON.stringify(deployment.status ?? {})) this.store.update(DEPLOYMENTS, namespace, name, { ...deployment, metadata: { ...deployment.metadata, resourceVersion: '' }, status }, 'status');
  }
}

interface ContainerStatus {
  name: string;
  image: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: Record<string, Record<string, unknown>>;
  lastState?: Record<string, Record<string, unknown>>;
}

function initialStatuses(pod: KubeObject): ContainerStatus[] {
  const containers = (pod.spec?.['containers'] as { name: string; image?: string }[] | undefined) ?? [];
  return containers.map((c) => ({ name: c.name, image: c.image ?? '', ready: false, started: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }));
}

function startedAt(status: ContainerStatus): string | undefined {
  return status.state['running']?.['startedAt'] as string | undefined;
}

function firstContainer(pod: KubeObject): string {
  return ((pod.spec?.['containers'] as { name: string }[] | undefined) ?? [])[0]?.name ?? '';
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}
