// SPDX-License-Identifier: Apache-2.0
// The canonical MemoryStore service (spec §7.2, §9): `/ecps.MemoryStore/Put` (unary) and `/ecps.MemoryStore/Query`
// (server streaming), on top of the generated MemoryStoreDefinition. The store itself (MEP) plugs in as a handler.
import type * as grpc from '@grpc/grpc-js';
import { getProfileQos } from '@ecps/core';
import { MemoryStoreDefinition, type Ack, type LTP, type QueryReq } from '@ecps/proto';
import { maxMessageSizeFor } from './channel-options';
import { addEcpsService } from './service-server';
import { createEcpsClient, type GrpcCallOptions, type GrpcClientOptions } from './service-client';

/**
 * What a MemoryStore implementation provides. Throw a `ValidationError` for a bad request (the client receives
 * INVALID_ARGUMENT and the same code), a size error code for oversize input (RESOURCE_EXHAUSTED).
 */
export interface MemoryStoreHandler {
  put(request: LTP): Promise<Ack>;
  /** Streams the hits; `signal` aborts when the client cancels or its deadline passes. */
  query(request: QueryReq, signal: AbortSignal): AsyncIterable<LTP>;
}

/** Serves `handler` as `/ecps.MemoryStore/Put` and `/ecps.MemoryStore/Query` on `server`. */
export function addMemoryStoreService(server: grpc.Server, handler: MemoryStoreHandler): void {
  addEcpsService(server, MemoryStoreDefinition, {
    put: (request) => handler.put(request),
    query: (request, context) => handler.query(request, context.signal),
  });
}

export interface MemoryStoreClient {
  /** Stores a tensor. Deadline: the profile's MEP_PUT `timeout_s` (standard: 10 s) unless `timeoutMs` is given. */
  put(ltp: LTP, options?: GrpcCallOptions): Promise<Ack>;
  /** Streams the hits. Deadline: the profile's MEP_QUERY `timeout_s` (standard: 15 s) for the whole stream. */
  query(request: QueryReq, options?: GrpcCallOptions): AsyncIterable<LTP>;
  /** Closes the channel. Idempotent. */
  close(): void;
}

/**
 * A MemoryStore client for `target` (`host:port`). Message size bound: profile `max_message_size` + 4096.
 * Calls fail with typed EcpsErrors (see `createEcpsClient`).
 */
export function createMemoryStoreClient(target: string, options: GrpcClientOptions = {}): MemoryStoreClient {
  const profile = options.profile ?? 'standard';
  const client = createEcpsClient(MemoryStoreDefinition, target, {
    ...options,
    maxMessageSize: maxMessageSizeFor(options),
    timeouts: {
      put: getProfileQos(profile, 'MEP_PUT', 'grpc').timeoutS * 1000,
      query: getProfileQos(profile, 'MEP_QUERY', 'grpc').timeoutS * 1000,
    },
  });
  return { put: client.put, query: client.query, close: client.close };
}
