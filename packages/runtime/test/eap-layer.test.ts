// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { EapStatus } from '@ecps/eap';
import { readEaplog } from '@ecps/eaplog';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { createNode } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'runtime-eap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('node.eap', () => {
  it('runs handlers, answers the sender and logs actions in the configured directory', async () => {
    const bus = new MemoryBus();
    const robot = await createNode({ id: 'arm-1', profile: 'edge-lite', transport: memoryTransport({ nodeId: 'arm-1', bus }), eap: { log: { dir } } });
    const planner = await createNode({ id: 'planner', transport: memoryTransport({ nodeId: 'planner', bus }), eap: { log: false } });
    robot.eap.onAction('gripper', (op) => ({ position: String(op.position) }));
    expect(robot.eap.budgetMs).toBe(40); // edge-lite EAP budget
    const { result } = await planner.eap.send('gripper', { command: 'OPEN', position: 1 }, { snapshot: Uint8Array.of(1, 2, 3) });
    expect(result).toMatchObject({ status: EapStatus.EAP_STATUS_SUCCEEDED, detail: { position: '1' } });
    const path = robot.eap.logPath as string;
    expect(planner.eap.logPath).toBeUndefined();
    await robot.close();
    await planner.close();
    const log = await readEaplog(path);
    expect(log.messages).toHaveLength(1);
    expect(log.fields?.robotId).toBe('arm-1');
  });
});
