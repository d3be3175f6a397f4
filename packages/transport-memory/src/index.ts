// SPDX-License-Identifier: Apache-2.0
// The public surface of @ecps/transport-memory.

export { memoryTransport, defaultMemoryBus } from './memory-transport';
export { MemoryBus } from './memory-bus';

export type { MemoryTransportOptions } from './memory-transport';
export type { MemoryBusOptions, MemoryBusStats } from './memory-bus';
