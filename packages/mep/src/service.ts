// SPDX-License-Identifier: Apache-2.0
// The canonical MemoryStore service over any Transport (spec §9): `MemoryStore.Put` (unary, LTP -> Ack) and
// `MemoryStore.Query` (server stream of LTP, ended by `ecps.stream.end`).
import {
  ValidationError,
  nodeSource,
  type Clock,
  type EcpsEvent,
  type RandomSource,
  type RequestOptions,
  type Subscription,
  type Transport,
} from '@ecps/core';
import type { Ack, LTP, QueryReq } from '@ecps/proto';
import { decodeEvent, encodeEvent } from '@ecps/serialization';

/** Service names of spec §9. */
export const MEMORY_STORE_SERVICES = { put: 'MemoryStore.Put', query: 'MemoryStore.Query' } as const;

/** What a MemoryStore server needs; {@link MemoryStore} satisfies it (so does any gRPC handler of the same shape). */
export interface MemoryStoreHandler {
  put(request: LTP): Promise<Ack>;
  query(request: QueryReq, signal: AbortSignal): AsyncIterable<LTP>;
}

export interface MemoryStoreEndpointOptions {
  /** The node id of this endpoint (CloudEvents source `urn:ecps:<nodeId>`). */
  nodeId: string;
  clock?: Clock;
  random?: RandomSource;
}

/**
 * Serves `handler` as the MemoryStore on `transport`. Returns the two subscriptions' combined handle.
 * A request that does not decode fails with `DECODE_ERROR` (delivered to the requester as a remote error).
 */
export async function serveMemoryStore(
  transport: Transport,
  handler: MemoryStoreHandler,
  options: MemoryStoreEndpointOptions,
): Promise<Subscription> {
  const init = { source: nodeSource(options.nodeId), clock: options.clock, random: options.random };
  const put = await transport.serve(MEMORY_STORE_SERVICES.put, async (event) => {
    const ack = await handler.put(decodeEvent('LTP', event));
    return encodeEvent('Ack', ack, withReplyInit(init, event));
  });
  const query = await transport.serveStream(MEMORY_STORE_SERVICES.query, (event, signal) =>
    streamHits(handler, decodeEvent('QueryReq', event), signal, withReplyInit(init, event)),
  );
  return {
    filter: `${MEMORY_STORE_SERVICES.put}|${MEMORY_STORE_SERVICES.query}`,
    unsubscribe: async () => {
      await Promise.all([put.unsubscribe(), query.unsubscribe()]);
    },
  };
}

async function* streamHits(
  handler: MemoryStoreHandler,
  request: QueryReq,
  signal: AbortSignal,
  init: ReturnType<typeof withReplyInit>,
): AsyncIterable<EcpsEvent> {
  for await (const frame of handler.query(request, signal)) yield encodeEvent('LTP', frame, init);
}

function withReplyInit(init: { source: string; clock?: Clock | undefined; random?: RandomSource | undefined }, request: EcpsEvent) {
  const traceparent = request.extensions?.['traceparent'];
  return {
    source: init.source,
    ...(init.clock ? { clock: init.clock } : {}),
    ...(init.random ? { random: init.random } : {}),
    ...(traceparent ? { extensions: { traceparent } } : {}),
  };
}

/** A MemoryStore client over any Transport. Timeouts default to the spec's QoS (Put 10 s, Query 15 s). */
export class MemoryStoreClient implements MemoryStoreHandler {
  private readonly source: string;

  constructor(
    private readonly transport: Transport,
    private readonly options: MemoryStoreEndpointOptions,
  ) {
    this.source = nodeSource(options.nodeId);
  }

  /** Stores an embedding. Rejects with the transport's `TIMEOUT`/`CLOSED`/`REMOTE_ERROR`; a refused Put is an Ack false. */
  async put(request: LTP, options: RequestOptions = {}): Promise<Ack> {
    const reply = await this.transport.request(MEMORY_STORE_SERVICES.put, encodeEvent('LTP', request, this.init()), {
      timeoutMs: 10_000,
      ...options,
    });
    return decodeEvent('Ack', reply);
  }

  /**
   * Streams the hits of a query. Throws `INVALID_QUERY` for a non-finite `min_sim` before sending; server-side
   * failures arrive as the transport's `REMOTE_ERROR`.
   */
  async *query(request: QueryReq, signal?: AbortSignal, options: RequestOptions = {}): AsyncIterable<LTP> {
    if (!Number.isFinite(request.minSim)) throw new ValidationError('INVALID_QUERY', `min_sim must be finite, got ${request.minSim}`);
    const stream = this.transport.requestStream(MEMORY_STORE_SERVICES.query, encodeEvent('QueryReq', request, this.init()), {
      timeoutMs: 15_000,
      ...(signal ? { signal } : {}),
      ...options,
    });
    for await (const event of stream) yield decodeEvent('LTP', event);
  }

  private init() {
    return {
      source: this.source,
      ...(this.options.clock ? { clock: this.options.clock } : {}),
      ...(this.options.random ? { random: this.options.random } : {}),
    };
  }
}
