// SPDX-License-Identifier: Apache-2.0
// @ecps/testkit (private): what the test suites of every package share.

export { describeTransportConformance, testEvent } from './transport-conformance';
export { waitFor, sleep } from './wait';
export { vectorsDir } from './paths';
export { bundleEntry } from './bundle-entry';
export { NetworkPartition } from './partition';
export { faultyTransport } from './faulty-transport';
export { generateTestCertificates, generateNodeCertificates } from './tls-certificates';
export { freePort, waitForPort } from './free-port';
export { startMosquitto, fileDescriptorLimits } from './mosquitto';
export { startMosquittoBridge, bridgeStanza, waitForBridge } from './mosquitto-bridge';
export { startAedes } from './aedes';
export { createSoftHsmToken, softHsmAvailable, softHsmModulePath } from './softhsm';
export { SimNetwork } from './sim-network';
export { SimDisk } from './sim-disk';
export { SimBroker } from './sim-transport';
export { checkLinearizability } from './linearizability';
export { startNodeScript, startProcess, bundleScript } from './node-script';
export { startEtcdCluster } from './etcd';
export { startTcpProxy } from './tcp-proxy';
export { startPostgres, postgresBinDir } from './postgres';
export { startSwtpm, startSwtpmCharDev, swtpmAvailable } from './swtpm';
export { unprivilegedUser, TEST_USER } from './unprivileged-user';
export { cycloneLoopbackConfig, useCycloneLoopback, cycloneToolsAvailable } from './cyclone';
export { startTransportHost } from './remote-transport';
export { hostTransports } from './transport-host';

export type { TransportPair, ConformanceOptions } from './transport-conformance';
export type { BundleEntryOptions } from './bundle-entry';
export type { FaultOptions, FaultCounters, FaultyTransport } from './faulty-transport';
export type { TestCertificates, NodeCertificates } from './tls-certificates';
export type { MosquittoOptions, MosquittoHandle } from './mosquitto';
export type { MosquittoBridgeOptions, MosquittoBridgeHandle } from './mosquitto-bridge';
export type { AedesHandle } from './aedes';
export type { SoftHsmToken } from './softhsm';
export type { SimNetworkOptions, SimNetworkStats, SimClockOptions } from './sim-network';
export type { SimDiskOptions, SimDiskStats, SimDiskFile } from './sim-disk';
export type { SimPacket, SimTransportOptions, SimBrokerStats } from './sim-transport';
export type { NodeScriptHandle } from './node-script';
export type { EtcdClusterHandle } from './etcd';
export type { HistoryOperation, LinearizabilityModel, LinearizabilityResult } from './linearizability';
export type { TcpProxy } from './tcp-proxy';
export type { PostgresHandle } from './postgres';
export type { SwtpmHandle, SwtpmCharDevHandle } from './swtpm';
export type { UnprivilegedUser } from './unprivileged-user';
export type { CycloneLoopbackOptions } from './cyclone';
export type { TransportHost } from './remote-transport';
