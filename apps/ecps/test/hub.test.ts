// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Client, credentials } from '@grpc/grpc-js';
import { HEALTH_SERVICE, HEALTH_STATUS, createClient } from '@ecps/sw4rm';
import { startHub } from '../src/hub/start-hub';

function health(address: string, service: string): Promise<number> {
  const c = new Client(address, credentials.createInsecure());
  const def = HEALTH_SERVICE['Check']!;
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, { service }, { deadline: Date.now() + 3000 }, (e, v) => {
      c.close();
      if (e) reject(e);
      else resolve((v as { status: number }).status);
    }),
  );
}

describe('ecps hub', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hub-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves every service with health checks on ephemeral ports and stops gracefully', async () => {
    const hub = await startHub({ routerPort: 0, registryPort: 0, schedulerPort: 0, dbPath: join(dir, 'r.db'), drainGraceMs: 0, env: {} });
    const { router, registry, scheduler } = hub.ports;
    expect(new Set([router, registry, scheduler]).size).toBe(3);
    for (const p of [router, registry, scheduler]) expect([50051, 50052, 50053]).not.toContain(p);
    const checks: [number, string][] = [
      [router, 'sw4rm.router.RouterService'],
      [registry, 'sw4rm.registry.RegistryService'],
      [scheduler, 'sw4rm.scheduler.SchedulerService'],
      [scheduler, 'sw4rm.scheduler.SchedulerPolicyService'],
      [scheduler, 'sw4rm.negotiation.NegotiationService'],
      [scheduler, 'sw4rm.negotiation_room.NegotiationRoomService'],
      [scheduler, 'sw4rm.activity.ActivityService'],
      [router, ''],
    ];
    for (const [port, name] of checks) expect(await health(`127.0.0.1:${port}`, name)).toBe(HEALTH_STATUS.SERVING);
    // services not hosted answer UNIMPLEMENTED
    const tool = createClient('tool', `127.0.0.1:${scheduler}`);
    await expect(tool.call({ callId: 'x' })).rejects.toMatchObject({ grpcCode: 12 });
    tool.close();
    // the scheduler's CONTROL envelopes go through the router to the agent
    const sched = createClient('scheduler', `127.0.0.1:${scheduler}`);
    expect(await sched.submitTask({ agentId: 'agent-x', taskId: 't1', priority: 0 })).toEqual({ accepted: true, reason: '' });
    sched.close();
    await hub.stop();
    await expect(health(`127.0.0.1:${router}`, '')).rejects.toBeDefined();
  }, 30_000);
});
