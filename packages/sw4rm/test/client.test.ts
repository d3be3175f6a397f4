// SPDX-License-Identifier: Apache-2.0
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Server, ServerCredentials, status as Status } from '@grpc/grpc-js';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { MessageType, SW4RM_SERVICES, Sw4rmRpcError, buildEnvelope, createClient } from '../src/index';
import type { ClientOf } from '../src/index';
import type { SendMessageRequest, SendMessageResponse } from '../src/gen/router';

// a router stand-in that answers each SendMessage with the metadata it saw
let server: Server;
let port: number;
let client: ClientOf<'router'>;
const seen = (call: ServerUnaryCall<SendMessageRequest, SendMessageResponse>) =>
  ['x-correlation-id', 'tenant', 'trace'].map((k) => `${k}=${String(call.metadata.get(k)[0] ?? '')}`).join(' ');

beforeAll(async () => {
  server = new Server();
  server.addService(SW4RM_SERVICES.router.grpc, {
    sendMessage: (call: ServerUnaryCall<SendMessageRequest, SendMessageResponse>, cb: sendUnaryData<SendMessageResponse>) =>
      cb(null, { accepted: call.request.msg?.payload.length === 3, reason: seen(call) }),
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  client = createClient('router', `127.0.0.1:${port}`, { metadata: { tenant: 't1' } });
});

afterAll(() => {
  client.close();
  server.forceShutdown();
});

describe('createClient', () => {
  const msg = (correlationId = '') => buildEnvelope({ producerId: 'p', messageType: MessageType.DATA, payload: new Uint8Array(3), correlationId });

  it('sends the client metadata, the correlation id and per-call metadata, and none of them leaks into the next call', async () => {
    expect(await client.sendMessage({ msg: msg('c-1') }, { metadata: { trace: 'x', tenant: 't2' } })).toEqual({
      accepted: true,
      reason: 'x-correlation-id=c-1 tenant=t2 trace=x',
    });
    expect((await client.sendMessage({ msg: msg() })).reason).toBe('x-correlation-id= tenant=t1 trace=');
  });

  it('retries UNAVAILABLE up to the attempts and rejects with Sw4rmRpcError', async () => {
    const dead = createClient('router', '127.0.0.1:1', { attempts: 2 });
    const err = await dead.sendMessage({ msg: msg() }).catch((e: unknown) => e);
    dead.close();
    expect(err).toBeInstanceOf(Sw4rmRpcError);
    expect((err as Sw4rmRpcError).grpcCode).toBe(Status.UNAVAILABLE);
  });
});
