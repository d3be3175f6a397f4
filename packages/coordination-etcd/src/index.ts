// SPDX-License-Identifier: Apache-2.0
// @ecps/coordination-etcd: the CoordinationStore of @ecps/tasks on an existing etcd cluster.

export { EtcdCoordinationStore } from './etcd-coordination-store';

export type { EtcdCoordinationStoreOptions } from './etcd-coordination-store';
