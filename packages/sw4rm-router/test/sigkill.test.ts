// SPDX-License-Identifier: Apache-2.0
// The router as a real process, killed with SIGKILL under load and restarted on the same store:
// every message it accepted is still there (acked before the crash, or delivered after the restart).
import { afterAll, describe, expect, it } from '@jest/globals';
import { waitFor } from '@ecps/testkit';
import { createClient } from '@ecps/sw4rm';
import { killChildren, startChild } from './child';
import { Consumer, data, tmpDb } from './helpers';

afterAll(killChildren);

describe('router process: SIGKILL under load', () => {
  it('loses no accepted message across kill -9 and restart', async () => {
    const db = tmpDb();
    const first = await startChild(['serve', '--db', db, '--port', '0'], { SW4RM_ROUTER_MAX_QUEUE: '100000' });
    const client = createClient('router', `127.0.0.1:${first.port}`, { attempts: 1, timeoutMs: 3000 });
    const producer = new Consumer(client, 'p');
    const consumer = new Consumer(client, 'c');
    const accepted = new Set<string>();
    // the consumer acks every second delivery; an ack whose answer died with the process may or may not
    // have been committed, so such messages may legitimately be either gone or redelivered
    const ackedBefore = new Set<string>();
    const ackSent = new Set<string>();
    let n = 0;
    consumer.call.on('data', (item: { seq: bigint; msg?: { messageId: string } }) => {
      if (n++ % 2) return;
      const id = item.msg!.messageId;
      ackSent.add(id);
      client
        .ackDelivery({ agentId: 'c', seq: item.seq, messageId: id })
        .then((r) => r.recorded && ackedBefore.add(id))
        .catch(() => undefined);
    });
    let killed = false;
    const sender = async () => {
      while (!killed) {
        const env = data('p');
        try {
          const r = await client.sendMessage({ msg: env });
          if (r.accepted) accepted.add(env.messageId);
        } catch {
          // in flight when the process died: not accepted as far as we know
        }
      }
    };
    // make sure the router knows both agents before the load starts
    let warm = false;
    for (let i = 0; i < 50 && !warm; i++) {
      const env = data('p');
      const r = await client.sendMessage({ msg: env });
      if (r.accepted) {
        accepted.add(env.messageId);
        warm = true;
      } else await new Promise((res) => setTimeout(res, 20));
    }
    expect(warm).toBe(true);
    const senders = Array.from({ length: 8 }, () => sender());
    await waitFor(() => accepted.size >= 300, '300 accepted messages', 30_000);
    first.child.kill('SIGKILL');
    killed = true;
    await Promise.all(senders);
    await new Promise((r) => first.child.once('exit', r));
    producer.cancel();
    consumer.cancel();
    client.close();

    const second = await startChild(['serve', '--db', db, '--port', '0'], { SW4RM_ROUTER_MAX_QUEUE: '100000' });
    const client2 = createClient('router', `127.0.0.1:${second.port}`);
    const after = new Consumer(client2, 'c');
    const missing = () => [...accepted].filter((id) => !ackSent.has(id) && !after.ids().includes(id));
    await waitFor(() => missing().length === 0, 'every accepted message to be redelivered', 30_000);
    // report the counts (visible with --verbose)
    process.stderr.write(`sigkill: accepted=${accepted.size} acked-before-crash=${ackedBefore.size} redelivered=${after.items.length}\n`);
    expect(missing()).toEqual([]);
    expect(accepted.size).toBeGreaterThanOrEqual(300);
    expect(after.items.length).toBeGreaterThanOrEqual(accepted.size - ackSent.size);
    // acks confirmed before the crash are durable: none of those comes back
    expect(after.ids().filter((id) => ackedBefore.has(id))).toEqual([]);
    after.cancel();
    client2.close();
    second.child.kill('SIGTERM');
    const code = await new Promise((r) => second.child.once('exit', r));
    expect(code).toBe(0);
  }, 120_000);
});
