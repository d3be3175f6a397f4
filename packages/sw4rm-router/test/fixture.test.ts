// SPDX-License-Identifier: Apache-2.0
// Fixture mode (spec §6.3) with the assertions of SW4RM's router parity test (spec §6.4).
import { afterAll, describe, expect, it } from '@jest/globals';
import { createClient } from '@ecps/sw4rm';
import { exitOf, killChildren, startChild } from './child';
import { Consumer, status, removeTmpDirs, tmpDb } from './helpers';

afterAll(killChildren);
afterAll(removeTmpDirs);

describe('router fixture mode', () => {
  it('serves the seeded message with parity-test semantics and exits 0 within 2 s of SIGTERM', async () => {
    const db = tmpDb();
    const { child, port, line } = await startChild(['fixture', '--db', db, '--port', '0']);
    expect(line).toEqual({ ready: true, port, agent: 'consumer-1', message_id: 'js-parity-message' });
    const client = createClient('router', `127.0.0.1:${port}`);
    const c = new Consumer(client, 'consumer-1');
    await c.waitItems(1);
    const item = c.items[0]!;
    expect(item.msg).toMatchObject({ messageId: 'js-parity-message', producerId: 'producer-1', contentType: 'application/json' });
    expect(item.seq > 0n).toBe(true);
    expect((await client.ackDelivery({ agentId: 'other-agent', seq: item.seq, messageId: 'js-parity-message' })).recorded).toBe(false);
    expect((await client.ackDelivery({ agentId: 'consumer-1', seq: item.seq, messageId: 'js-parity-message' })).recorded).toBe(true);
    expect((await client.ackDelivery({ agentId: 'consumer-1', seq: item.seq, messageId: 'js-parity-message' })).recorded).toBe(false);
    c.cancel();
    const again = new Consumer(client, 'consumer-1', 500);
    await again.waitEnd();
    expect(again.error?.code).toBe(status.DEADLINE_EXCEEDED);
    const t0 = Date.now();
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    client.close();

    // reusing the store: dedup keeps the seed from being queued twice (it was acked, so nothing comes)
    const second = await startChild(['fixture', '--db', db, '--port', '0', '--agent', 'consumer-1']);
    const client2 = createClient('router', `127.0.0.1:${second.port}`);
    const d = new Consumer(client2, 'consumer-1', 700);
    await d.waitEnd();
    expect(d.items).toEqual([]);
    second.child.kill('SIGINT');
    expect(await exitOf(second.child)).toBe(0);
    client2.close();
  }, 60_000);
});
