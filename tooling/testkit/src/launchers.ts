// SPDX-License-Identifier: Apache-2.0
// The launchers alone, without the Jest-based suites, for programs outside Jest (benchmarks, scripts).

export { freePort, waitForPort } from './free-port';
export { startMosquitto, fileDescriptorLimits } from './mosquitto';
export { startMosquittoBridge, bridgeStanza, waitForBridge } from './mosquitto-bridge';
export { startAedes } from './aedes';
export { startEtcdCluster } from './etcd';
export { startNodeScript, startProcess, bundleScript } from './node-script';
export { startPostgres, postgresBinDir } from './postgres';
export { startSwtpm, startSwtpmCharDev, swtpmAvailable } from './swtpm';
export { unprivilegedUser, TEST_USER } from './unprivileged-user';

export type { MosquittoOptions, MosquittoHandle } from './mosquitto';
export type { MosquittoBridgeOptions, MosquittoBridgeHandle } from './mosquitto-bridge';
export type { AedesHandle } from './aedes';
export type { EtcdClusterHandle } from './etcd';
export type { NodeScriptHandle } from './node-script';
export type { PostgresHandle } from './postgres';
export type { SwtpmHandle, SwtpmCharDevHandle } from './swtpm';
export type { UnprivilegedUser } from './unprivileged-user';
