// SPDX-License-Identifier: Apache-2.0
// Settings of the Kubernetes driver and how they are read from the environment; the cluster connection itself.
import * as k8s from '@kubernetes/client-node';
import { CodexError } from '@ecps/codex-registry';

export interface KubernetesDriverConfig {
  /** Namespace the bot Deployments live in (`KUBERNETES_NAMESPACE`, default `default`). */
  namespace: string;
  /** Interpreter name → container image (`KUBERNETES_IMAGES`, JSON; default `{"python3":"python:3.12-slim"}`). */
  images: Record<string, string>;
  /** Secrets the pods pull their image with (`KUBERNETES_IMAGE_PULL_SECRETS`, comma-separated). */
  imagePullSecrets: string[];
  /** `scale` keeps a stopped bot's Deployment at zero replicas; `delete` removes it (`KUBERNETES_STOP_MODE`). */
  stopMode: 'scale' | 'delete';
  /** Tells several Codex servers sharing a namespace apart (`KUBERNETES_INSTANCE`, default `codex`). */
  instance: string;
  /** Service account of the bot pods (`KUBERNETES_BOT_SERVICE_ACCOUNT`, default none: the namespace default). */
  botServiceAccount: string | null;
  /** Failures after which a bot is quarantined on the next one (the supervisor's `MAX_FAILURES`). */
  maxFailures: number;
  /** Seconds a stop waits for the pods to go before answering (`STOP_GRACE_SEC` + 30). */
  stopTimeoutSec: number;
  /** Blueprints root (`BOTS_DIRECTORY`) and bot log folder (`BOT_LOG_DIR`), as for local bots. */
  botsDirectory: string;
  logDir: string;
  /** Restart bots whose desired state is `running` when their Deployment is gone at start-up (`RESUME_ON_BOOT`). */
  resumeOnBoot: boolean;
}

export const KUBERNETES_DEFAULTS: Omit<KubernetesDriverConfig, 'botsDirectory' | 'logDir'> = {
  namespace: 'default',
  images: { python3: 'python:3.12-slim' },
  imagePullSecrets: [],
  stopMode: 'scale',
  instance: 'codex',
  botServiceAccount: null,
  maxFailures: 5,
  stopTimeoutSec: 35,
  resumeOnBoot: true,
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The driver settings from the environment (see {@link KubernetesDriverConfig}); `base` supplies the folders and the
 * supervisor's failure limit. Throws `CodexError` `validation_error` for a malformed value.
 */
export function kubernetesConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  base: Pick<KubernetesDriverConfig, 'botsDirectory' | 'logDir' | 'maxFailures' | 'resumeOnBoot'> & { stopGraceSec: number },
): KubernetesDriverConfig {
  const namespace = env['KUBERNETES_NAMESPACE'] || KUBERNETES_DEFAULTS.namespace;
  const instance = env['KUBERNETES_INSTANCE'] || KUBERNETES_DEFAULTS.instance;
  for (const [name, value] of [['KUBERNETES_NAMESPACE', namespace], ['KUBERNETES_INSTANCE', instance]] as const) {
    if (!DNS_LABEL.test(value)) throw new CodexError('validation_error', `${name} must be a DNS label, got ${JSON.stringify(value)}`);
  }
  let images = KUBERNETES_DEFAULTS.images;
  if (env['KUBERNETES_IMAGES']) {
    try {
      images = JSON.parse(env['KUBERNETES_IMAGES']) as Record<string, string>;
    } catch (cause) {
      throw new CodexError('validation_error', 'KUBERNETES_IMAGES must be a JSON object of interpreter → image', { cause });
    }
    if (typeof images !== 'object' || images === null || Array.isArray(images) || Object.values(images).some((i) => typeof i !== 'string' || !i)) {
      throw new CodexError('validation_error', 'KUBERNETES_IMAGES must map interpreter names to image references');
    }
  }
  const stopMode = env['KUBERNETES_STOP_MODE'] || KUBERNETES_DEFAULTS.stopMode;
  if (stopMode !== 'scale' && stopMode !== 'delete') throw new CodexError('validation_error', `KUBERNETES_STOP_MODE must be scale or delete, got ${stopMode}`);
  return {
    namespace,
    images,
    imagePullSecrets: (env['KUBERNETES_IMAGE_PULL_SECRETS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    stopMode,
    instance,
    botServiceAccount: env['KUBERNETES_BOT_SERVICE_ACCOUNT'] || null,
    maxFailures: base.maxFailures,
    stopTimeoutSec: base.stopGraceSec + 30,
    botsDirectory: base.botsDirectory,
    logDir: base.logDir,
    resumeOnBoot: base.resumeOnBoot,
  };
}

/**
 * The cluster connection: `KUBECONFIG` (a file) when set, else the in-cluster service account when running in a pod
 * (`KUBERNETES_SERVICE_HOST`), else `~/.kube/config`. Throws `CodexError` `validation_error` when none loads.
 */
export function loadKubeConfig(env: Readonly<Record<string, string | undefined>> = process.env): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    if (env['KUBECONFIG']) kc.loadFromFile(env['KUBECONFIG']);
    else if (env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (cause) {
    throw new CodexError('validation_error', `cannot load the Kubernetes configuration: ${String(cause)}`, { cause });
  }
  if (!kc.getCurrentCluster()) throw new CodexError('validation_error', 'no Kubernetes cluster configured (set KUBECONFIG or run in a pod)');
  return kc;
}
