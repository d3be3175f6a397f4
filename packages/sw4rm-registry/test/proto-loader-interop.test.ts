// SPDX-License-Identifier: Apache-2.0
// A registry client built like SW4RM's TypeScript SDK (proto-loader, keepCase, enums as names) works unchanged,
// including the invalid class name SW4RM clients send (it encodes as 0 and is treated as STANDARD).
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CommunicationClass } from '@ecps/sw4rm';
import { startRegistry } from '../src/index';

const protoDir = join(import.meta.dirname, '..', '..', '..', 'proto', 'sw4rm');
type Obj = Record<string, unknown>;
type Cb = (e: grpc.ServiceError | null, r: Obj) => void;

describe('SW4RM-style proto-loader client against our registry', () => {
  it('registers, heartbeats with state names and deregisters', async () => {
    const running = await startRegistry({ port: 0 });
    const def = protoLoader.loadSync(join(protoDir, 'registry.proto'), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoDir] });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { sw4rm: { registry: { RegistryService: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & Record<string, (req: Obj, cb: Cb) => void> } } };
    const client = new pkg.sw4rm.registry.RegistryService(`127.0.0.1:${running.port}`, grpc.credentials.createInsecure());
    const call = (method: string, req: Obj) => new Promise<Obj>((resolve, reject) => client[method]!(req, (e, r) => (e ? reject(e) : resolve(r))));
    try {
      const agent = { agent_id: 'agent-js-1', name: 'Demo', description: 'a demo agent', capabilities: ['demo'], communication_class: 'COMMUNICATION_CLASS_UNSPECIFIED' };
      expect(await call('RegisterAgent', { agent })).toEqual({ accepted: true, reason: '' });
      expect(running.registry.get('agent-js-1')!.descriptor.communicationClass).toBe(CommunicationClass.STANDARD);
      expect(await call('Heartbeat', { agent_id: 'agent-js-1', state: 'RUNNABLE', health: { status: 'ok' } })).toEqual({ ok: true });
      expect(await call('Heartbeat', { agent_id: 'unknown', state: 'RUNNING' })).toEqual({ ok: false });
      expect(await call('DeregisterAgent', { agent_id: 'agent-js-1', reason: 'done' })).toEqual({ ok: true });
    } finally {
      client.close();
      await running.stop();
    }
  });
});
