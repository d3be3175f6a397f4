// SPDX-License-Identifier: Apache-2.0
// The Kubernetes driver: runs `kubernetes_pod` bots as Deployments and maps what the cluster reports (through watch
// streams on their Deployments and Pods) onto the same bot status machine, incidents and quarantine rules as local
// processes. Bots keep running when Codex stops; on start-up Codex adopts them again.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { silentLogger, systemClock, type Clock, type Logger } from '@ecps/core';
import { applyBotEvent, CodexError, isCodexError, isoTime, KeyedMutex, recordIncidentOrLog, requireBot, type Bot, type BotEvent, type BotStore, type IncidentKind, type IncidentStore } from '@ecps/codex-registry';
import { logFile, readLogTail, resolveBlueprint } from '@ecps/codex-supervisor';
import type { KubernetesDriverConfig } from './config';
import { BOT_ID_ANNOTATION, botManifests, deploymentName, managedSelector } from './manifests';

export interface KubernetesDriverOptions {
  store: BotStore;
  incidents: IncidentStore;
  kubeConfig: k8s.KubeConfig;
  config: KubernetesDriverConfig;
  clock?: Clock;
  logger?: Logger;
}

export interface KubernetesReconcileReport {
  /** Bots whose Deployment still runs: adopted, their status follows the cluster again. */
  adopted: string[];
  /** Deployments labelled as ours whose bot the registry does not know (or not as `kubernetes_pod`): left alone. */
  unknown: { deployment: string; bot_id: string | null }[];
  /** Bots recorded as live whose Deployment is gone or scaled to zero: set to `stopped` (incident `reconciled`). */
  reconciled: string[];
  /** Of those, the ones started again because their desired state is `running`. */
  resumed: string[];
}

/** The `last_error` of a live bot whose Deployment was gone at start-up. */
export const KUBERNETES_RECONCILED_ERROR = 'reconciled at startup: no running Deployment for this bot';

const MAX_BLUEPRINT_BYTES = 900 * 1024; // a ConfigMap holds at most 1 MiB
const LIVE = new Set(['deploying', 'running', 'stopping']);
/** Waiting reasons of a container that will not start without a change (a crash loop is a failure instead). */
const START_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError']);

/**
 * Runs bots of deployment type `kubernetes_pod`. Create it with {@link KubernetesDriver.create} (which starts its
 * watches), call `reconcile()` before serving requests. `shutdown()` stops watching and following logs but leaves the
 * bots running in the cluster; a later `reconcile()` adopts them.
 */
export class KubernetesDriver {
  readonly name = 'kubernetes';
  readonly deploymentTypes: readonly string[] = ['kubernetes_pod'];
  private readonly store: BotStore;
  private readonly incidents: IncidentStore;
  private readonly config: KubernetesDriverConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly apps: k8s.AppsV1Api;
  private readonly core: k8s.CoreV1Api;
  private readonly perBot = new KeyedMutex();
  private readonly podInformer: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private readonly deploymentInformer: k8s.Informer<k8s.V1Deployment> & k8s.ObjectCache<k8s.V1Deployment>;
  /** Pod uid → restarts already accounted for. */
  private readonly restartsSeen = new Map<string, number>();
  /** Pod name → its log follow. */
  private readonly follows = new Map<string, Follow>();
  private readonly stopWaiters = new Map<string, Set<() => void>>();
  private readonly stopReasons = new Map<string, string>();
  private readonly runningSince = new Map<string, string>();
  private readonly startedAtMs: number;
  private closed = false;
  /** Both watches have their first list: until then a cache may look empty and prove nothing. */
  private watching = false;

  private constructor(private readonly options: KubernetesDriverOptions) {
    this.store = options.store;
    this.incidents = options.incidents;
    this.config = options.config;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.apps = options.kubeConfig.makeApiClient(k8s.AppsV1Api);
    this.core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.startedAtMs = Date.now();
    const ns = this.config.namespace;
    const selector = managedSelector(this.config);
    this.podInformer = k8s.makeInformer(options.kubeConfig, `/api/v1/namespaces/${ns}/pods`, () => this.core.listNamespacedPod({ namespace: ns, labelSelector: selector }), selector);
    this.deploymentInformer = k8s.makeInformer(
      options.kubeConfig,
      `/apis/apps/v1/namespaces/${ns}/deployments`,
      () => this.apps.listNamespacedDeployment({ namespace: ns, labelSelector: selector }),
      selector,
    );
    for (const informer of [this.podInformer, this.deploymentInformer] as k8s.Informer<k8s.KubernetesObject>[]) {
      for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, (object) => this.onChange(object));
      informer.on('error', (error) => {
        if (this.closed) return;
        this.logger.warn('codex kubernetes: watch failed, restarting it', { error: String(error) });
        setTimeout(() => void informer.start().catch(() => undefined), 1000).unref();
      });
    }
  }

  /** Connects and starts the watches (their first list has arrived when this resolves). Nothing is started or adopted yet. */
  static async create(options: KubernetesDriverOptions): Promise<KubernetesDriver> {
    const driver = new KubernetesDriver(options);
    try {
      await Promise.all([driver.podInformer.start(), driver.deploymentInformer.start()]);
      driver.watching = true;
    } catch (cause) {
      await driver.shutdown();
      throw new CodexError('spawn_failed', `cannot watch Kubernetes namespace ${options.config.namespace}: ${describe(cause)}`, { cause });
    }
    return driver;
  }

  /**
   * Starts a bot: its Secret, blueprint ConfigMap and Deployment are created (or replaced), the bot is `deploying`
   * until a pod is ready, then `running`. Already running with replicas: `already_running`. Throws `CodexError`
   * `not_found`, `invalid_transition`, `script_not_found`, `validation_error` (no image, blueprint too large),
   * `spawn_failed` (the cluster refused; the bot is then `failed`).
   */
  async start(id: string): Promise<{ status: 'ok' | 'already_running'; bot: Bot }> {
    this.assertOpen();
    return this.perBot.run(id, async () => {
      let bot = await requireBot(this.store, id);
      if (bot.status === 'running' || bot.status === 'deploying') {
        if (this.liveDeployment(id)) return { status: 'already_running' as const, bot };
        bot = bot.status === 'running' ? await this.update(id, { type: 'failed', error: 'Deployment not running', exitCode: null }) : await this.update(id, { type: 'spawn_failed', error: 'start was interrupted' });
      }
      bot = await this.update(id, { type: 'start' });
      try {
        const file = await resolveBlueprint(bot, this.config.botsDirectory);
        if ((await stat(file)).size > MAX_BLUEPRINT_BYTES) throw new CodexError('validation_error', `blueprint ${bot.blueprint} is larger than ${MAX_BLUEPRINT_BYTES} bytes (a ConfigMap's limit)`);
        const manifests = botManifests(bot, await readFile(file, 'utf8'), this.config, bot.deployment_config.replicas ?? 1);
        await this.apply('secret', manifests.secret);
        await this.apply('configmap', manifests.configMap);
        await this.apply('deployment', manifests.deployment);
      } catch (error) {
        const typed = isCodexError(error) ? error : new CodexError('spawn_failed', `cannot deploy bot ${id}: ${describe(error)}`, { cause: error });
        await this.update(id, { type: 'spawn_failed', error: typed.message });
        throw typed;
      }
      await this.observe(id);
      return { status: 'ok' as const, bot: await requireBot(this.store, id) };
    });
  }

  /**
   * Stops a bot: `stopping`, its Deployment scaled to zero (or deleted with its Secret and ConfigMap, by
   * `stopMode`), then `stopped` once the watch shows no pod left (or after `stopTimeoutSec`, still `stopping`).
   * Without a running Deployment: `not_running`. Throws `CodexError` `not_found`.
   */
  async stop(id: string, reason = 'stopped by request'): Promise<{ status: 'ok' | 'not_running'; bot: Bot }> {
    this.assertOpen();
    let waiter!: () => void;
    const gone = new Promise<void>((resolve) => (waiter = resolve));
    const waiters = this.stopWaiters.get(id) ?? new Set();
    this.stopWaiters.set(id, waiters.add(waiter));
    const unwait = () => {
      waiters.delete(waiter);
      if (waiters.size === 0 && this.stopWaiters.get(id) === waiters) this.stopWaiters.delete(id);
    };
    try {
      const outcome = await this.perBot.run(id, async () => {
        let bot = await requireBot(this.store, id);
        if (!this.liveDeployment(id) && bot.status !== 'stopping') {
          // nothing runs: a record that says otherwise is corrected, and a pending wish to run is withdrawn
          const now = this.clock.now();
          if (bot.desired_state === 'stopped' && bot.status !== 'running' && bot.status !== 'deploying') return { status: 'not_running' as const, bot };
          bot = await this.store.update(id, (b) =>
            b.status === 'running' || b.status === 'deploying'
              ? applyBotEvent(applyBotEvent(b, { type: 'stop', reason }, now), { type: 'exited', exitCode: null, reason }, now)
              : { ...b, desired_state: 'stopped' },
          );
          return { status: 'not_running' as const, bot };
        }
        this.stopReasons.set(id, reason);
        if (bot.status === 'running' || bot.status === 'deploying') bot = await this.update(id, { type: 'stop', reason });
        else if (bot.status !== 'stopping') bot = await this.store.update(id, (b) => ({ ...b, desired_state: 'stopped' }));
        await this.takeDown(id);
        await this.observe(id);
        return null;
      });
      if (outcome) return outcome;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.stopTimeoutSec * 1000)))]);
      clearTimeout(timer);
    } finally {
      unwait();
    }
    return { status: 'ok', bot: await requireBot(this.store, id) };
  }

  /** Stops the bot, deletes its Deployment, Secret and ConfigMap, then removes it. False when there was no such bot. */
  async delete(id: string): Promise<boolean> {
    if (!(await this.store.get(id))) return false;
    await this.stop(id, 'bot deleted');
    await this.removeObjects(id);
    return this.store.delete(id);
  }

  /** The tail of a bot's output as streamed from its pods (Kubernetes merges both streams: `stderr` is empty). */
  async readLogs(id: string, stream: 'stdout' | 'stderr' = 'stdout', tailBytes = 65_536): Promise<string> {
    await requireBot(this.store, id);
    return readLogTail(logFile(this.config.logDir, id, stream), Math.max(0, Math.min(tailBytes, 1024 * 1024)));
  }

  /** Bots with a ready pod. */
  running(): { bot_id: string; started_at: string }[] {
    return [...this.runningSince].map(([bot_id, started_at]) => ({ bot_id, started_at }));
  }

  capabilities(): Record<string, unknown> {
    return { kubernetes: { namespace: this.config.namespace, instance: this.config.instance, stop_mode: this.config.stopMode, images: this.config.images } };
  }

  /**
   * Start-up reconciliation: Deployments labelled as this instance's but unknown to the registry are reported (and a
   * warning logged), never deleted; bots whose Deployment runs are adopted; live bots without one become `stopped`
   * with an incident `reconciled` and are started again when their desired state is `running` and `resumeOnBoot` is set.
   */
  async reconcile(): Promise<KubernetesReconcileReport> {
    const report: KubernetesReconcileReport = { adopted: [], unknown: [], reconciled: [], resumed: [] };
    for (const d of this.deploymentInformer.list()) {
      const botId = d.metadata?.annotations?.[BOT_ID_ANNOTATION] ?? null;
      const bot = botId ? await this.store.get(botId) : null;
      if (!bot || bot.deployment_config.deployment_type !== 'kubernetes_pod' || deploymentName(bot.id) !== d.metadata?.name) {
        report.unknown.push({ deployment: d.metadata?.name ?? '', bot_id: botId });
        this.logger.warn('codex kubernetes: a Deployment labelled as ours belongs to no known bot; leaving it alone', { deployment: d.metadata?.name, bot_id: botId });
      }
    }
    const resume: string[] = [];
    for (const listed of (await this.store.list({ limit: 100_000 })).bots) {
      if (listed.deployment_config.deployment_type !== 'kubernetes_pod' || !LIVE.has(listed.status)) continue;
      await this.perBot.run(listed.id, async () => {
        const bot = await this.store.get(listed.id);
        if (!bot || !LIVE.has(bot.status)) return;
        if (this.liveDeployment(bot.id) || (bot.status === 'stopping' && this.deployment(bot.id))) {
          report.adopted.push(bot.id);
          await this.observe(bot.id);
          return;
        }
        await this.update(bot.id, { type: 'reconcile', error: KUBERNETES_RECONCILED_ERROR }, { k8s_pod_name: null, k8s_deployment_name: this.deployment(bot.id) ? deploymentName(bot.id) : null });
        await this.incident(bot, 'reconciled', KUBERNETES_RECONCILED_ERROR, { deployment: deploymentName(bot.id) });
        report.reconciled.push(bot.id);
        if (bot.desired_state === 'running' && this.config.resumeOnBoot) resume.push(bot.id);
      });
    }
    for (const id of resume) {
      try {
        await this.start(id);
        report.resumed.push(id);
      } catch (error) {
        this.logger.warn('codex kubernetes: cannot resume bot', { bot_id: id, error: String(error) });
      }
    }
    return report;
  }

  /** Stops watching and following logs. The bots keep running in the cluster. Idempotent. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.podInformer.stop(), this.deploymentInformer.stop()]);
    for (const name of [...this.follows.keys()]) this.unfollow(name);
    for (const waiters of this.stopWaiters.values()) for (const resolve of waiters) resolve();
  }

  // ---- what the watches report ----

  private onChange(object: k8s.KubernetesObject): void {
    const id = object.metadata?.annotations?.[BOT_ID_ANNOTATION];
    if (!id || this.closed || !this.watching) return;
    this.perBot.run(id, () => this.observe(id)).catch((error) => this.logger.error('codex kubernetes: cannot record a change', { bot_id: id, error: String(error) }));
  }

  /** Brings the bot's record in line with what the watch caches show (level-triggered: any event re-reads all). */
  private async observe(id: string): Promise<void> {
    let bot = await this.store.get(id);
    if (!bot || bot.deployment_config.deployment_type !== 'kubernetes_pod') return;
    const pods = this.pods(id);
    for (const name of [...this.follows.keys()]) if (name.startsWith(deploymentName(id) + '-') && !pods.some((p) => p.metadata?.name === name)) this.unfollow(name);

    const terminations = this.newTerminations(pods);
    if (terminations.length > 0 && (bot.status === 'running' || bot.status === 'deploying')) {
      const last = terminations[terminations.length - 1]!;
      const oom = terminations.some((t) => t.reason === 'OOMKilled');
      const kind: IncidentKind = oom ? 'memory_limit_exceeded' : 'exited';
      const error = oom
        ? `memory_limit_exceeded: container OOMKilled in pod ${last.pod} (limit ${bot.deployment_config.memory_limit ?? '512Mi'})`
        : `container exited with code ${last.exitCode} in pod ${last.pod}${last.waiting ? ` (${last.waiting})` : ''}`;
      bot =
        bot.status === 'running'
          ? await this.update(id, { type: 'failed', error, exitCode: last.exitCode }, { k8s_pod_name: null })
          : await this.update(id, { type: 'spawn_failed', error, countsAsFailure: true }, { k8s_pod_name: null });
      this.runningSince.delete(id);
      await this.incident(bot, kind, error, { pod: last.pod, exit_code: last.exitCode, reason: last.reason, restart_count: last.restartCount, failure_count: bot.failure_count });
      if (bot.failure_count > this.config.maxFailures || bot.deployment_config.restart_policy === 'never') {
        await this.takeDown(id, 'scale');
        if (bot.deployment_config.restart_policy === 'never') return;
        const message = `Supervisor quarantined bot after ${this.config.maxFailures} failed heal attempts`;
        const quarantined = await this.update(id, { type: 'quarantine', error: message });
        await this.incident(quarantined, 'quarantined', message, { failure_count: quarantined.failure_count, deployment: deploymentName(id), scaled_to: 0 });
        return;
      }
      // the kubelet restarts the container itself, with its own back-off
      bot = await this.update(id, { type: 'restart' });
      await this.incident(bot, 'restart', `restarted by the kubelet after failure ${bot.failure_count}`, { pod: last.pod, restart_count: last.restartCount });
    }

    const cannotStart = bot.status === 'deploying' ? pods.flatMap((p) => p.status?.containerStatuses ?? []).find((c) => START_FAILURES.has(c.state?.waiting?.reason ?? '')) : undefined;
    if (cannotStart) {
      // S5: the container cannot be created (image, configuration); retrying would not help, so nothing keeps running
      const waiting = cannotStart.state!.waiting!;
      await this.update(id, { type: 'spawn_failed', error: `cannot start container: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}` }, { k8s_pod_name: null });
      await this.takeDown(id, 'scale');
      return;
    }

    const ready = pods.filter(isReady);
    if (bot.status === 'deploying' && ready.length > 0) {
      bot = await this.store.update(id, (b) => ({
        ...applyBotEvent(b, { type: 'spawned', pid: 0, startedAt: null }, this.clock.now()),
        process_id: null,
        k8s_deployment_name: deploymentName(id),
        k8s_pod_name: ready[0]!.metadata?.name ?? null,
      }));
      this.runningSince.set(id, bot.started_at ?? isoTime(this.clock.now()));
    } else if (bot.status === 'running' && !this.runningSince.has(id)) {
      this.runningSince.set(id, bot.started_at ?? isoTime(this.clock.now()));
    }
    if (bot.status === 'running' || bot.status === 'deploying') for (const pod of ready) this.follow(id, pod);
    if (bot.status === 'stopping' && pods.length === 0 && !this.liveDeployment(id)) {
      await this.update(id, { type: 'exited', exitCode: null, reason: this.stopReasons.get(id) ?? 'stopped' }, { k8s_pod_name: null, k8s_deployment_name: this.deployment(id) ? deploymentName(id) : null });
      this.stopReasons.delete(id);
      this.runningSince.delete(id);
      for (const resolve of this.stopWaiters.get(id) ?? []) resolve();
    }
    if (bot.status === 'running' && !this.deployment(id)) {
      const error = 'Deployment deleted outside Codex';
      const failed = await this.update(id, { type: 'failed', error, exitCode: null }, { k8s_pod_name: null, k8s_deployment_name: null });
      this.runningSince.delete(id);
      await this.incident(failed, 'exited', error, { deployment: deploymentName(id) });
    }
  }

  /** Container restarts not yet accounted for, oldest first. A pod seen first at adoption brings no history. */
  private newTerminations(pods: k8s.V1Pod[]): { pod: string; exitCode: number | null; reason: string; restartCount: number; waiting: string | null }[] {
    const out: { pod: string; exitCode: number | null; reason: string; restartCount: number; waiting: string | null }[] = [];
    for (const pod of pods) {
      const uid = pod.metadata?.uid ?? '';
      const restarts = (pod.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);
      const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : 0;
      const seen = this.restartsSeen.get(uid) ?? (created >= this.startedAtMs - 1000 ? 0 : restarts);
      this.restartsSeen.set(uid, restarts);
      if (restarts <= seen) continue;
      const status = (pod.status?.containerStatuses ?? []).find((c) => c.lastState?.terminated) ?? pod.status?.containerStatuses?.[0];
      const terminated = status?.lastState?.terminated;
      out.push({ pod: pod.metadata?.name ?? '', exitCode: terminated?.exitCode ?? null, reason: terminated?.reason ?? 'Error', restartCount: restarts, waiting: status?.state?.waiting?.reason ?? null });
    }
    return out;
  }

  // ---- cluster objects ----

  private deployment(id: string): k8s.V1Deployment | undefined {
    return this.deploymentInformer.get(deploymentName(id), this.config.namespace);
  }

  private liveDeployment(id: string): boolean {
    const d = this.deployment(id);
    return !!d && (d.spec?.replicas ?? 1) > 0;
  }

  private pods(id: string): k8s.V1Pod[] {
    return this.podInformer.list(this.config.namespace).filter((p) => p.metadata?.annotations?.[BOT_ID_ANNOTATION] === id);
  }

  /** Creates the object, or replaces it when it exists (re-reading on a 409 Conflict). */
  private async apply(kind: 'secret' | 'configmap' | 'deployment', body: k8s.V1Secret | k8s.V1ConfigMap | k8s.V1Deployment): Promise<void> {
    const namespace = this.config.namespace;
    const name = body.metadata!.name!;
    const api = {
      secret: { create: () => this.core.createNamespacedSecret({ namespace, body }), read: () => this.core.readNamespacedSecret({ namespace, name }), replace: (b: typeof body) => this.core.replaceNamespacedSecret({ namespace, name, body: b }) },
      configmap: { create: () => this.core.createNamespacedConfigMap({ namespace, body }), read: () => this.core.readNamespacedConfigMap({ namespace, name }), replace: (b: typeof body) => this.core.replaceNamespacedConfigMap({ namespace, name, body: b }) },
      deployment: {
        create: () => this.apps.createNamespacedDeployment({ namespace, body: body as k8s.V1Deployment }),
        read: () => this.apps.readNamespacedDeployment({ namespace, name }),
        replace: (b: typeof body) => this.apps.replaceNamespacedDeployment({ namespace, name, body: b as k8s.V1Deployment }),
      },
    }[kind];
    try {
      await api.create();
      return;
    } catch (error) {
      if (statusCode(error) !== 409) throw error;
    }
    for (let attempt = 0; ; attempt++) {
      const current = await api.read();
      try {
        await api.replace({ ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } });
        return;
      } catch (error) {
        if (statusCode(error) !== 409 || attempt >= 4) throw error;
      }
    }
  }

  /** Scales the Deployment to zero, or deletes it with its Secret and ConfigMap. */
  private async takeDown(id: string, mode = this.config.stopMode): Promise<void> {
    if (mode === 'delete') return this.removeObjects(id);
    await this.apps.patchNamespacedDeploymentScale({ namespace: this.config.namespace, name: deploymentName(id), body: { spec: { replicas: 0 } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)).catch((error: unknown) => {
      if (statusCode(error) !== 404) throw error;
    });
  }

  private async removeObjects(id: string): Promise<void> {
    const namespace = this.config.namespace;
    const name = deploymentName(id);
    const ignore404 = (error: unknown) => {
      if (statusCode(error) !== 404) throw error;
    };
    await this.apps.deleteNamespacedDeployment({ namespace, name, propagationPolicy: 'Foreground' }).catch(ignore404);
    await this.core.deleteNamespacedSecret({ namespace, name: `${name}-env` }).catch(ignore404);
    await this.core.deleteNamespacedConfigMap({ namespace, name: `${name}-blueprint` }).catch(ignore404);
  }

  // ---- logs ----

  private follow(id: string, pod: k8s.V1Pod): void {
    const name = pod.metadata?.name;
    if (!name || this.follows.has(name) || this.closed) return;
    const path = logFile(this.config.logDir, id, 'stdout');
    const entry: Follow = { request: null, file: null, stopped: false };
    this.follows.set(name, entry);
    void (async () => {
      await mkdir(dirname(path), { recursive: true, mode: 0o750 });
      if (entry.stopped) return;
      entry.file = createWriteStream(path, { flags: 'a', mode: 0o640 });
      entry.request = await new k8s.Log(this.options.kubeConfig).log(this.config.namespace, name, 'bot', entry.file, { follow: true });
      if (entry.stopped) entry.request.abort();
    })().catch((error) => {
      this.logger.warn('codex kubernetes: cannot follow pod log', { bot_id: id, pod: name, error: String(error) });
      if (this.follows.get(name) === entry) this.unfollow(name);
    });
  }

  private unfollow(name: string): void {
    const entry = this.follows.get(name);
    if (!entry) return;
    this.follows.delete(name);
    entry.stopped = true;
    entry.request?.abort();
    entry.file?.end();
  }

  // ---- registry ----

  /** Applies `event`; `k8s` sets where the bot runs (`k8s_deployment_name`, `k8s_pod_name`) in the same write. */
  private async update(id: string, event: BotEvent, k8s: Partial<Pick<Bot, 'k8s_deployment_name' | 'k8s_pod_name'>> = {}): Promise<Bot> {
    return this.store.update(id, (b) => ({ ...applyBotEvent(b, event, this.clock.now()), ...k8s }));
  }

  private incident(bot: Pick<Bot, 'id' | 'name'>, kind: IncidentKind, message: string, data: Record<string, unknown>): Promise<void> {
    return recordIncidentOrLog(this.incidents, this.logger, 'codex kubernetes', bot, kind, message, data);
  }

  private assertOpen(): void {
    if (this.closed) throw new CodexError('closed', 'the Kubernetes driver is shut down');
  }
}

/** A pod log streamed into the bot's log file. */
interface Follow {
  request: AbortController | null;
  file: WriteStream | null;
  stopped: boolean;
}

function isReady(pod: k8s.V1Pod): boolean {
  const statuses = pod.status?.containerStatuses ?? [];
  return !pod.metadata?.deletionTimestamp && statuses.length > 0 && statuses.every((c) => c.ready);
}

function statusCode(error: unknown): number | undefined {
  return error instanceof k8s.ApiException ? error.code : undefined;
}

function describe(error: unknown): string {
  if (error instanceof k8s.ApiException) {
    try {
      return `${error.code} ${(JSON.parse(error.body as string) as { message?: string }).message ?? ''}`.trim();
    } catch {
      return `HTTP ${error.code}`;
    }
  }
  return String(error);
}
