// SPDX-License-Identifier: Apache-2.0
// The whole Codex server from its environment: registry (JSON file or PostgreSQL), supervisor, credentials, patch
// proposals, speech-to-text, the API and the dashboard, listening; `close` stops every bot and releases everything.
import { resolve } from 'node:path';
import { KubernetesDriver, kubernetesConfigFromEnv, loadKubeConfig } from '@ecps/codex-kubernetes';
import { openRegistry, type CorruptPolicy, type Registry } from '@ecps/codex-registry';
import { Supervisor, supervisorConfigFromEnv } from '@ecps/codex-supervisor';
import { systemClock, type Clock, type Logger } from '@ecps/core';
import { JsonAuthStore, type AuthStore } from './auth/auth-store';
import { PostgresAuthStore } from './auth/pg-auth-store';
import { apiConfigFromEnv, type ApiConfig } from './config';
import { Deployments, kubernetesDriver, supervisorDriver, type DeploymentDriver } from './deployments';
import { ApiError } from './errors';
import { PatchProposals } from './patches';
import { createCodexApi, type CodexApi } from './server';
import { pocketsphinxSpeechToText } from './speech/pocketsphinx';
import { mockSpeechToText, unavailableProvider, type SpeechToTextProvider } from './speech/provider';

export interface CodexServerOptions {
  /** The environment (spec variable names); default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Relative paths (registry, bots, logs) are taken against this folder (default the working directory). */
  baseDir?: string;
  logger?: Logger;
  /**
   * The API's time (token issue and expiry, WebSocket expiry closes, heartbeats, command rate limits, login lockout,
   * credential pruning, patch times); default the system clock. The supervisor keeps its own.
   */
  clock?: Clock;
}

/** A running Codex server. */
export interface CodexServer {
  readonly api: CodexApi;
  readonly registry: Registry;
  readonly supervisor: Supervisor;
  /** The driver of `kubernetes_pod` bots, when `KUBERNETES_ENABLED=true`. */
  readonly kubernetes: KubernetesDriver | null;
  readonly config: ApiConfig;
  /** `http://host:port` it listens on. */
  readonly url: string;
  /** Graceful shutdown: refuse new requests, close sockets, stop every bot (desired state kept), close the stores. */
  close(): Promise<void>;
}

function speechProvider(name: string, registry: Registry, env: Readonly<Record<string, string | undefined>>): SpeechToTextProvider | null {
  switch (name) {
    case 'none':
      return null;
    case 'mock':
      return mockSpeechToText(env['STT_MOCK_TEXT'] ?? 'list bots');
    case 'pocketsphinx':
      return pocketsphinxSpeechToText({
        botPhrases: async () => (await registry.bots.list({ limit: 1000 })).bots.flatMap((b) => [b.id, b.name]),
        ...(env['POCKETSPHINX_MODEL_DIR'] ? { modelDir: env['POCKETSPHINX_MODEL_DIR'] } : {}),
      });
    default:
      return unavailableProvider(name);
  }
}

/**
 * Starts the server described by the environment: `REGISTRY_BACKEND=json` (default, `REGISTRY_FILE`) or `postgres`
 * (`DATABASE_URL`, credentials in the same database), the supervisor on `BOTS_DIRECTORY` (reconciled, then its loop),
 * `KUBERNETES_ENABLED=true` adds the Kubernetes driver (`KUBECONFIG` or the in-cluster account, `KUBERNETES_NAMESPACE`,
 * `KUBERNETES_IMAGES`, …; reconciled before serving), `STT_PROVIDER` `none` | `mock` | `pocketsphinx`, and the API on `HOST`:`PORT` (default 127.0.0.1:8000).
 * `CODEX32_DASHBOARD_DIR` serves the dashboard from another folder (default: the package's own `dashboard/`).
 * Throws `ApiError` `config_invalid` for unsafe settings and `CodexError` `registry_locked`/`registry_corrupt` from the
 * registry; whatever was opened before the failure is closed again.
 */
export async function startCodexServer(options: CodexServerOptions = {}): Promise<CodexServer> {
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const logger = options.logger;
  const clock = options.clock ?? systemClock;
  const config = apiConfigFromEnv(env, baseDir, (m) => logger?.warn(m));
  const backend = env['REGISTRY_BACKEND'] ?? 'json';
  if (backend !== 'json' && backend !== 'postgres') throw new ApiError('config_invalid', `REGISTRY_BACKEND must be json or postgres, got ${backend}`);
  if (backend === 'postgres' && !env['DATABASE_URL']) throw new ApiError('config_invalid', 'REGISTRY_BACKEND=postgres needs DATABASE_URL');

  const registryFile = resolve(baseDir, env['REGISTRY_FILE'] ?? 'codex32_registry.json');
  const registry = await openRegistry(
    backend === 'postgres'
      ? { backend: 'postgres', databaseUrl: env['DATABASE_URL']!, ...(logger ? { logger } : {}) }
      : {
          backend: 'json',
          file: registryFile,
          ...(env['INCIDENT_LOG'] ? { incidentLog: resolve(baseDir, env['INCIDENT_LOG']) } : {}),
          ...(env['REGISTRY_CORRUPT_POLICY'] ? { corruptPolicy: env['REGISTRY_CORRUPT_POLICY'] as CorruptPolicy } : {}),
          ...(logger ? { logger } : {}),
        },
  );
  const cleanups: (() => Promise<void>)[] = [() => registry.close()];
  const unwind = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const supervisorConfig = supervisorConfigFromEnv(env, baseDir);
    const supervisor = await Supervisor.create({ store: registry.bots, incidents: registry.incidents, config: supervisorConfig, ...(logger ? { logger } : {}) });
    cleanups.push(() => supervisor.shutdown());
    await supervisor.reconcile();
    supervisor.startLoop();

    const authStore: AuthStore = backend === 'postgres' ? await PostgresAuthStore.open({ connectionString: env['DATABASE_URL']!, now: () => clock.now() }) : await JsonAuthStore.open(config.authFile, () => clock.now());
    cleanups.push(() => authStore.close());
    const patches = await PatchProposals.open(config.patchesFile, clock);
    const drivers: DeploymentDriver[] = [supervisorDriver(supervisor)];
    let kubernetes: KubernetesDriver | null = null;
    if ((env['KUBERNETES_ENABLED'] ?? '').toLowerCase() === 'true') {
      const k8sConfig = kubernetesConfigFromEnv(env, { ...supervisorConfig });
      kubernetes = await KubernetesDriver.create({ store: registry.bots, incidents: registry.incidents, kubeConfig: loadKubeConfig(env), config: k8sConfig, ...(logger ? { logger } : {}) });
      cleanups.push(() => kubernetes!.shutdown());
      await kubernetes.reconcile();
      drivers.push(kubernetesDriver(kubernetes));
    }
    const deployments = new Deployments(drivers);
    const api = await createCodexApi({
      config,
      registry,
      deployments,
      authStore,
      patches,
      botsDirectory: supervisorConfig.botsDirectory,
      ...(env['BUILDER_INTERPRETER'] ? { builderInterpreter: env['BUILDER_INTERPRETER'] } : {}),
      stt: speechProvider(config.sttProvider, registry, env),
      clock,
      ...(env['CODEX32_DASHBOARD_DIR'] ? { dashboardDir: resolve(baseDir, env['CODEX32_DASHBOARD_DIR']) } : {}),
    });
    cleanups.push(() => api.close());
    const address = await api.app.listen({ host: config.host, port: config.port });
    const url = address.replace('[::1]', '127.0.0.1');
    return {
      api,
      registry,
      supervisor,
      kubernetes,
      config,
      url,
      close: unwind,
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

