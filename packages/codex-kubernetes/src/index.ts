// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/codex-kubernetes.

export { KubernetesDriver, KUBERNETES_RECONCILED_ERROR } from './driver';
export { KUBERNETES_DEFAULTS, kubernetesConfigFromEnv, loadKubeConfig } from './config';
export { botManifests, botKey, deploymentName, managedSelector, botLabels, LABELS, MANAGED_BY, BOT_ID_ANNOTATION } from './manifests';

export type { KubernetesDriverOptions, KubernetesReconcileReport } from './driver';
export type { KubernetesDriverConfig } from './config';
export type { BotManifests } from './manifests';
