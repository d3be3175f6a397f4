// SPDX-License-Identifier: Apache-2.0
// The cluster a test runs against: the testkit Kubernetes server (default), or a real cluster when
// ECPS_TEST_KUBECONFIG names one. On the test server the test plays the kubelet (crash, OOM kill); on a real cluster
// the bots' own blueprints crash and exhaust memory, so `act` does nothing there and the waits are longer.
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { startKubernetesApiServer, type ContainerScenario, type KubernetesApiServer } from '@ecps/testkit/kubernetes';

export interface TestCluster {
  readonly real: boolean;
  readonly namespace: string;
  readonly kubeConfig: k8s.KubeConfig;
  /** How long to wait for the cluster to react. */
  readonly patienceMs: number;
  /** Plays the kubelet on the test server; no-op on a real cluster. */
  act(pod: string, scenario: ContainerScenario): void;
  appendLog(pod: string, text: string): void;
  close(): Promise<void>;
}

export async function openTestCluster(namespace: string): Promise<TestCluster> {
  const real = process.env['ECPS_TEST_KUBECONFIG'];
  if (real) {
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromString(readFileSync(real, 'utf8'));
    const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    return {
      real: true,
      namespace,
      kubeConfig,
      patienceMs: 180_000,
      act: () => undefined,
      appendLog: () => undefined,
      close: async () => void (await core.deleteNamespace({ name: namespace })),
    };
  }
  // pods of images on registry.invalid stay Pending, as a real image pull would, for the test to fail them
  const server: KubernetesApiServer = await startKubernetesApiServer({
    namespaces: [namespace],
    startPods: (pod) => !JSON.stringify(pod.spec?.['containers'] ?? []).includes('registry.invalid/'),
  });
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromString(server.kubeconfig(namespace));
  return {
    real: false,
    namespace,
    kubeConfig,
    patienceMs: 5000,
    act: (pod, scenario) => server.setContainer(namespace, pod, scenario),
    appendLog: (pod, text) => server.appendLog(namespace, pod, text),
    close: () => server.close(),
  };
}
