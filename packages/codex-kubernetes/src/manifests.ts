// SPDX-License-Identifier: Apache-2.0
// What a bot becomes on Kubernetes: a Deployment (its pods run the blueprint from a ConfigMap), a Secret with its
// environment (referenced, never inlined in the pod spec), and the labels that tie all three to the bot.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { CodexError, type Bot } from '@ecps/codex-registry';
import { identityEnvironment } from '@ecps/codex-supervisor';
import type { KubernetesDriverConfig } from './config';

export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  name: 'app.kubernetes.io/name',
  instance: 'codex.ecps.dev/instance',
  bot: 'codex.ecps.dev/bot',
} as const;
export const MANAGED_BY = 'ecps-codex';
/** The exact bot id (a label value cannot hold every id: at most 63 characters, no `_`). */
export const BOT_ID_ANNOTATION = 'codex.ecps.dev/bot-id';

const PLAIN_KEY = /^[a-z0-9]([-a-z0-9]{0,44}[a-z0-9])?$/;

/** A DNS-label-safe key for a bot id: the id itself when it is one, else a cleaned prefix and a hash of the id. */
export function botKey(id: string): string {
  if (PLAIN_KEY.test(id)) return id;
  const cleaned = id.replace(/[^a-z0-9-]/g, '-').slice(0, 36).replace(/^-+|-+$/g, '');
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return cleaned ? `${cleaned}-${hash}` : hash;
}

export function deploymentName(id: string): string {
  return `codex-bot-${botKey(id)}`;
}

/** The selector of everything this Codex instance manages in its namespace. */
export function managedSelector(config: Pick<KubernetesDriverConfig, 'instance'>): string {
  return `${LABELS.managedBy}=${MANAGED_BY},${LABELS.instance}=${config.instance}`;
}

export function botLabels(bot: Pick<Bot, 'id'>, config: Pick<KubernetesDriverConfig, 'instance'>): Record<string, string> {
  return { [LABELS.managedBy]: MANAGED_BY, [LABELS.name]: 'codex-bot', [LABELS.instance]: config.instance, [LABELS.bot]: botKey(bot.id) };
}

/** `"512"` (MB) → `"512Mi"`; `"512Mi"` and `"1Gi"` stay. */
function memoryQuantity(value: string): string {
  return /^[0-9]+$/.test(value) ? `${value}Mi` : value;
}

/**
 * The bot's `http` or `tcp` health check as the container's liveness probe: the kubelet restarts a container that
 * fails it, which the driver sees as a restart (a failure). `heartbeat_file` has no probe (it reads the supervisor's
 * view of a working directory).
 */
function livenessProbe(check: Bot['deployment_config']['health_check']): { livenessProbe?: k8s.V1Probe } {
  if (!check || (check.type !== 'http' && check.type !== 'tcp')) return {};
  const timing = { periodSeconds: Math.max(1, Math.round(check.interval_sec ?? 10)), timeoutSeconds: Math.max(1, Math.round(check.timeout_sec ?? 2)), failureThreshold: check.failure_threshold ?? 3 };
  return { livenessProbe: check.type === 'http' ? { httpGet: { port: check.port, path: check.path ?? '/health' }, ...timing } : { tcpSocket: { port: check.port }, ...timing } };
}

export interface BotManifests {
  deployment: k8s.V1Deployment;
  secret: k8s.V1Secret;
  configMap: k8s.V1ConfigMap;
}

/**
 * The three objects of a bot. `script` is the blueprint's content. Throws `CodexError` `validation_error` when no image
 * is configured for the bot's interpreter.
 */
export function botManifests(bot: Bot, script: string, config: KubernetesDriverConfig, replicas: number): BotManifests {
  const dc = bot.deployment_config;
  const interpreter = dc.interpreter ?? 'python3';
  const image = dc.image_uri ?? config.images[interpreter];
  if (!image) throw new CodexError('validation_error', `no Kubernetes image for interpreter ${interpreter} (KUBERNETES_IMAGES)`);
  const name = deploymentName(bot.id);
  const labels = botLabels(bot, config);
  const meta = (suffix: string) => ({ name: `${name}${suffix}`, namespace: config.namespace, labels, annotations: { [BOT_ID_ANNOTATION]: bot.id } });
  const file = basename(bot.blueprint);
  const resources = {
    requests: { memory: memoryQuantity(dc.memory_request ?? '128Mi'), cpu: dc.cpu_request ?? '100m' },
    limits: { memory: memoryQuantity(dc.memory_limit ?? '512Mi'), cpu: dc.cpu_limit ?? '500m' },
  };
  return {
    secret: { apiVersion: 'v1', kind: 'Secret', metadata: meta('-env'), type: 'Opaque', stringData: { ...(dc.environment_vars ?? {}) } },
    configMap: { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('-blueprint'), data: { [file]: script } },
    deployment: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(''),
      spec: {
        replicas,
        selector: { matchLabels: { [LABELS.instance]: config.instance, [LABELS.bot]: botKey(bot.id) } },
        template: {
          metadata: { labels, annotations: { [BOT_ID_ANNOTATION]: bot.id } },
          spec: {
            ...(config.botServiceAccount ? { serviceAccountName: config.botServiceAccount } : { automountServiceAccountToken: false }),
            ...(config.imagePullSecrets.length > 0 ? { imagePullSecrets: config.imagePullSecrets.map((s) => ({ name: s })) } : {}),
            restartPolicy: 'Always',
            securityContext: { runAsNonRoot: true, runAsUser: 65_534, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'bot',
                image,
                command: [interpreter, `/codex/blueprint/${file}`, ...(dc.args ?? [])],
                workingDir: '/codex/blueprint',
                // the same fixed variables as a local bot; the bot's own (possibly secret) ones come from the Secret
                env: Object.entries({ ...identityEnvironment(dc.identity), CODEX32_BOT_ID: bot.id, PYTHONUNBUFFERED: '1' }).map(([k, v]) => ({ name: k, value: v })),
                envFrom: [{ secretRef: { name: `${name}-env` } }],
                ...livenessProbe(dc.health_check),
                resources,
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [{ name: 'blueprint', mountPath: '/codex/blueprint', readOnly: true }],
              },
            ],
            volumes: [{ name: 'blueprint', configMap: { name: `${name}-blueprint` } }],
          },
        },
      },
    },
  };
}
