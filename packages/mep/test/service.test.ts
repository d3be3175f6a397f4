// SPDX-License-Identifier: Apache-2.0
// MemoryStore.Put / MemoryStore.Query over a Transport (spec §9), here the in-memory one.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { EVENT_TYPES, type EcpsEvent, type Subscription, type Transport } from '@ecps/core';
import type { LTP } from '@ecps/proto';
import { encodeEvent } from '@ecps/serialization';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { createMemoryStore, type MemoryStore } from '../src/memory-store';
import { MEMORY_STORE_SERVICES, MemoryStoreClient, serveMemoryStore } from '../src/service';
import { f64Frame, queryOf } from './helpers';

describe('MemoryStore service over a transport', () => {
  let server: Transport;
  let clientTransport: Transport;
  let store: MemoryStore;
  let served: Subscription;
  let client: MemoryStoreClient;

  beforeEach(async () => {
    const bus = new MemoryBus();
    server = memoryTransport({ nodeId: 'memory-node', bus });
    clientTransport = memoryTransport({ nodeId: 'robot', bus });
    await server.connect();
    await clientTransport.connect();
    store = await createMemoryStore();
    served = await serveMemoryStore(server, store, { nodeId: 'memory-node' });
    client = new MemoryStoreClient(clientTransport, { nodeId: 'robot' });
  });

  afterEach(async () => {
    await served.unsubscribe();
    await Promise.all([server.close(), clientTransport.close(), store.close()]);
  });

  it('puts and queries, streaming each hit with its similarity', async () => {
    expect(await client.put(await f64Frame([1, 0, 0], 'x'))).toEqual({ success: true, message: 'Embedding stored successfully' });
    expect(await client.put(await f64Frame([1, 1, 0], 'y'))).toEqual({ success: true, message: 'Embedding stored successfully' });
    const hits: LTP[] = [];
    for await (const hit of client.query(await queryOf([1, 0, 0], 5, 0.5))) hits.push(hit);
    expect(hits.map((h) => [h.attributes['mep_id'], h.attributes['similarity']])).toEqual([
      ['x', '1.0'],
      ['y', '0.7071067811865475'],
    ]);
  });

  it('answers an invalid Put with Ack false and ends a bad Query with a remote error', async () => {
    const ack = await client.put({ ...await f64Frame([1, 0], 'bad'), dtype: 'complex64' });
    expect(ack.success).toBe(false);
    expect(ack.message).toMatch(/UNSUPPORTED_DTYPE/);
    const drain = async () => {
      for await (const _ of client.query({ queryEmbedding: undefined, k: 1, minSim: 0 })) void _;
    };
    await expect(drain()).rejects.toMatchObject({ code: 'REMOTE_ERROR' });
  });

  it('uses the spec event types on the wire', async () => {
    const seen: EcpsEvent[] = [];
    const spy = await clientTransport.subscribe('#', (e) => {
      seen.push(e);
    });
    const request = encodeEvent('QueryReq', await queryOf([1], 1), { source: 'urn:ecps:robot' });
    await store.put(await f64Frame([1], 'one'));
    const events: EcpsEvent[] = [];
    for await (const e of clientTransport.requestStream(MEMORY_STORE_SERVICES.query, request)) events.push(e);
    expect(events.map((e) => e.type)).toEqual([EVENT_TYPES.ltp]);
    expect(seen.map((e) => e.type)).toEqual(expect.arrayContaining([EVENT_TYPES.mepQuery, EVENT_TYPES.ltp, EVENT_TYPES.streamEnd]));
    await spy.unsubscribe();
  });
});
