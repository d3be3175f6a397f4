// SPDX-License-Identifier: Apache-2.0
// A Kubernetes API server for tests (REST + watch on loopback, driven by @kubernetes/client-node and kubectl).

export { startKubernetesApiServer } from './server';
export { kubectlPath, runKubectl } from './kubectl';

export type { KubernetesApiServer, KubernetesApiServerOptions } from './server';
export type { ContainerScenario } from './controller';
export type { KubeObject } from './store';
export type { KubectlResult } from './kubectl';
