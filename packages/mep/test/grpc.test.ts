// SPDX-License-Identifier: Apache-2.0
// The MemoryStore over real gRPC (`/ecps.MemoryStore/Put`, `/ecps.MemoryStore/Query`) on a loopback port.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { LTP } from '@ecps/proto';
import {
  addMemoryStoreService,
  createMemoryStoreClient,
  startGrpcServer,
  type MemoryStoreClient,
  type StartedGrpcServer,
} from '@ecps/transport-grpc';
import { createMemoryStore, type MemoryStore } from '../src/memory-store';
import { f64Frame, queryOf } from './helpers';

describe('MemoryStore over gRPC', () => {
  let store: MemoryStore;
  let server: StartedGrpcServer;
  let client: MemoryStoreClient;

  beforeAll(async () => {
    store = await createMemoryStore();
    server = await startGrpcServer({ register: (s) => addMemoryStoreService(s, store) });
    client = createMemoryStoreClient(server.address);
  });

  afterAll(async () => {
    client.close();
    await server.close();
    await store.close();
  });

  it('puts and streams query hits with their similarity', async () => {
    expect(await client.put(await f64Frame([1, 0], 'east'))).toEqual({ success: true, message: 'Embedding stored successfully' });
    expect(await client.put(await f64Frame([1, 1], 'north-east'))).toEqual({ success: true, message: 'Embedding stored successfully' });
    const hits: LTP[] = [];
    for await (const hit of client.query(await queryOf([1, 0], 0, 0.7))) hits.push(hit);
    expect(hits.map((h) => [h.attributes['mep_id'], h.attributes['similarity']])).toEqual([
      ['east', '1.0'],
      ['north-east', '0.7071067811865475'],
    ]);
    expect(hits[0]!.timestampNs).toBe(1_700_000_000_000_000_000n);
  });

  it('acks a bad Put with false and fails a bad Query with INVALID_QUERY', async () => {
    const ack = await client.put({ ...(await f64Frame([1, 0], 'bad')), shape: [5] });
    expect(ack.success).toBe(false);
    expect(store.get('bad')).toBeUndefined();
    const drain = async () => {
      for await (const _ of client.query({ queryEmbedding: undefined, k: 1, minSim: 0 })) void _;
    };
    await expect(drain()).rejects.toMatchObject({ code: 'INVALID_QUERY' });
  });
});
