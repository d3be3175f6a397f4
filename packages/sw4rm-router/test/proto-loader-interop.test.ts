// SPDX-License-Identifier: Apache-2.0
// Interop: a client built the way SW4RM's TypeScript SDK builds its clients — @grpc/proto-loader over the same
// .proto files with keepCase, longs: String, enums: String, defaults, oneofs — drives our router unchanged:
// registration by streaming, DATA with numeric enums, forwarded ACKs, decimal-string seq and AckDelivery.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { waitFor } from '@ecps/testkit';
import { startRouter } from '../src/index';
import type { RunningRouter } from '../src/index';
import { removeTmpDirs, tmpDb } from './helpers';

const protoDir = join(import.meta.dirname, '..', '..', '..', 'proto', 'sw4rm');
type Obj = Record<string, unknown>;
type RouterCtor = new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client & {
  SendMessage(req: Obj, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: Obj) => void): void;
  AckDelivery(req: Obj, cb: (e: grpc.ServiceError | null, r: Obj) => void): void;
  StreamIncoming(req: Obj, opts?: grpc.CallOptions): grpc.ClientReadableStream<Obj>;
};

let running: RunningRouter;
let RouterService: RouterCtor;

beforeAll(async () => {
  running = await startRouter({ dbPath: tmpDb(), port: 0, drainGraceMs: 0 });
  const def = protoLoader.loadSync(join(protoDir, 'router.proto'), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoDir] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { sw4rm: { router: { RouterService: RouterCtor } } };
  RouterService = pkg.sw4rm.router.RouterService;
});
afterAll(removeTmpDirs);
afterAll(async () => {
  await running.stop(0);
});

describe('SW4RM-style proto-loader client against our router', () => {
  it('runs the ACK demo flow: DATA out, ACKNOWLEDGEMENT back, delivery acks with decimal seq', async () => {
    const client = new RouterService(`127.0.0.1:${running.port}`, grpc.credentials.createInsecure());
    const inbox = (agent_id: string) => {
      const items: Obj[] = [];
      const call = client.StreamIncoming({ agent_id });
      call.on('data', (i: Obj) => items.push(i));
      call.on('error', () => undefined);
      return { items, call };
    };
    const demo = inbox('agent-js-1');
    const ackAgent = inbox('ack-agent-1');
    await waitFor(() => running.router.knownAgents().length === 2, 'both agents known');
    const md = new grpc.Metadata();
    md.set('x-correlation-id', randomUUID());
    const send = (msg: Obj) => new Promise<Obj>((resolve, reject) => client.SendMessage({ msg }, md, (e, r) => (e ? reject(e) : resolve(r))));
    const payload = Buffer.from(JSON.stringify({ hello: 'world' }));
    const dataId = randomUUID();
    // the SDK's builder shape: numeric enums, sequence_number 1, content_length as a number
    const r = await send({
      message_id: dataId,
      producer_id: 'agent-js-1',
      correlation_id: 'corr-1',
      sequence_number: 1,
      message_type: 2,
      content_type: 'application/json',
      content_length: payload.length,
      hlc_timestamp: `HLC:${Date.now() * 1000}:0:browser`,
      payload,
      state: 1,
    });
    expect(r).toEqual({ accepted: true, reason: 'Message delivered to 1 recipients' });
    await waitFor(() => ackAgent.items.length === 1, 'DATA at the ack agent');
    const item = ackAgent.items[0]!;
    const msg = item['msg'] as Obj;
    expect(msg['message_type']).toBe('DATA');
    expect(msg['state']).toBe('ENVELOPE_STATE_SENT');
    expect(typeof item['seq']).toBe('string');
    expect(item['seq']).toMatch(/^[1-9]\d*$/);
    const ack = (agent_id: string, seq: unknown) => new Promise<Obj>((resolve, reject) => client.AckDelivery({ agent_id, seq, message_id: dataId }, (e, v) => (e ? reject(e) : resolve(v))));
    expect(await ack('other-agent', item['seq'])).toEqual({ recorded: false });
    expect(await ack('ack-agent-1', item['seq'])).toEqual({ recorded: true });
    expect(await ack('ack-agent-1', item['seq'])).toEqual({ recorded: false });
    // the ack agent answers with an ACKNOWLEDGEMENT (stage as a number, same correlation id); it is forwarded
    await send({
      message_id: randomUUID(),
      producer_id: 'ack-agent-1',
      correlation_id: 'corr-1',
      sequence_number: 1,
      message_type: 'ACKNOWLEDGEMENT',
      content_type: 'application/vnd.sw4rm.ack+json;v=1',
      payload: Buffer.from(JSON.stringify({ ack_for_message_id: dataId, ack_stage: 1 })),
      state: 1,
    });
    await waitFor(() => demo.items.length === 1, 'ACK at the demo client');
    const got = demo.items[0]!['msg'] as Obj;
    expect(got['message_type']).toBe('ACKNOWLEDGEMENT');
    expect(got['correlation_id']).toBe('corr-1');
    expect(JSON.parse((got['payload'] as Buffer).toString())).toEqual({ ack_for_message_id: dataId, ack_stage: 1 });
    // the SDK re-sends the same message_id after a timeout: suppressed, not duplicated
    expect((await send({ message_id: dataId, producer_id: 'agent-js-1', message_type: 2, payload, state: 1 }))['reason']).toBe(`Duplicate of ${dataId} suppressed`);
    demo.call.cancel();
    ackAgent.call.cancel();
    client.close();
  }, 30_000);
});
