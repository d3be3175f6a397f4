import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { ValidationError, isEcpsError } from '@ecps/core';
import { BusDefinition, MepReplicationClient, MepReplicationDefinition, type MepEntry, type MepReplicateAck } from '@ecps/proto/ext/v1';
import { addEcpsService, createEcpsClient, createGrpcServer, methodPath, startGrpcServer, type StartedGrpcServer } from '../src/index';

let server: StartedGrpcServer;
const digests: string[] = [];

beforeAll(async () => {
  server = await startGrpcServer({
    register: (s) =>
      addEcpsService(s, MepReplicationDefinition, {
        replicate: async (req) => {
          if (req.entries.length === 0) throw new ValidationError('INVALID_ARGUMENT', 'nothing to replicate');
          return { operationId: req.operationId, ackNode: 'peer-1', success: true, message: `${req.entries.length} applied` };
        },
        rollback: (req) => ({ operationId: req.operationId, ackNode: 'peer-1', success: true, message: 'rolled back' }),
        antiEntropy: async function* (digest) {
          digests.push(digest.nodeId);
          for (let i = 1n; i <= 3n; i++) {
            yield { key: `k${i}`, tensor: undefined, dot: { nodeId: 'peer-1', counter: i }, context: { 'peer-1': i }, hlc: undefined, tombstone: i === 3n } satisfies MepEntry;
          }
        },
      }),
  });
});
afterAll(() => server.close());

const entry: MepEntry = { key: 'k', tensor: undefined, dot: { nodeId: 'n', counter: 1n }, context: {}, hlc: { wallNs: 1n, logical: 0 }, tombstone: false };

describe('ext/v1 services over gRPC', () => {
  it('registers at /ecps.ext.v1.<Service>/<Method> and answers the generated grpc-js client', async () => {
    expect(methodPath(MepReplicationDefinition, MepReplicationDefinition.methods.replicate)).toBe('/ecps.ext.v1.MepReplication/Replicate');
    const raw = new MepReplicationClient(server.address, grpc.credentials.createInsecure());
    try {
      const ack = await new Promise<MepReplicateAck>((resolve, reject) =>
        raw.replicate({ operationId: 'op-1', sourceNode: 'n', entries: [entry], requiresAck: true }, (e, r) => (e ? reject(e) : resolve(r))),
      );
      expect(ack).toEqual({ operationId: 'op-1', ackNode: 'peer-1', success: true, message: '1 applied' });
    } finally {
      raw.close();
    }
  });

  it('gives a typed client: unary as a Promise, server streaming as an AsyncIterable, errors typed', async () => {
    const client = createEcpsClient(MepReplicationDefinition, server.address);
    try {
      expect((await client.rollback({ operationId: 'op-2', sourceNode: 'n', dots: [] })).message).toBe('rolled back');
      const entries: MepEntry[] = [];
      for await (const e of client.antiEntropy({ nodeId: 'node-7', summary: { 'peer-1': 0n } })) entries.push(e);
      expect(entries.map((e) => [e.key, e.dot?.counter, e.tombstone])).toEqual([
        ['k1', 1n, false],
        ['k2', 2n, false],
        ['k3', 3n, true],
      ]);
      expect(digests).toContain('node-7');
      let caught: unknown;
      try {
        await client.replicate({ operationId: 'op-3', sourceNode: 'n', entries: [], requiresAck: true });
      } catch (error) {
        caught = error;
      }
      expect(isEcpsError(caught, 'INVALID_ARGUMENT')).toBe(true);
      expect((caught as Error).name).toBe('ValidationError');
    } finally {
      client.close();
    }
  });

  it('answers a request that does not decode with INVALID_ARGUMENT / DECODE_ERROR', async () => {
    const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
    try {
      const error = await new Promise<grpc.ServiceError>((resolve) =>
        raw.makeUnaryRequest('/ecps.ext.v1.MepReplication/Replicate', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0xff, 0xff]), (e) => resolve(e!)),
      );
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.metadata.get('ecps-error-code')).toEqual(['DECODE_ERROR']);
    } finally {
      raw.close();
    }
  });

  it('refuses client-streaming and bidirectional methods with UNSUPPORTED', () => {
    const s = createGrpcServer();
    expect(() => addEcpsService(s, BusDefinition, { connect: async () => ({ frame: undefined }) } as never)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED' }) as unknown as Error,
    );
    expect(() => createEcpsClient(BusDefinition, server.address)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }) as unknown as Error);
  });
});
