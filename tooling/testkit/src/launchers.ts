// SPDX-License-Identifier: Apache-2.0
// The launchers alone, without the Jest-based suites, for programs outside Jest (benchmarks, scripts).

export { freePort, waitForPort } from './free-port';
export { startMosquitto } from './mosquitto';
export { startEtcdCluster } from './etcd';
export { startNodeScript, bundleScript } from './node-script';

export type { MosquittoOptions, MosquittoHandle } from './mosquitto';
export type { EtcdClusterHandle } from './etcd';
export type { NodeScriptHandle } from './node-script';
