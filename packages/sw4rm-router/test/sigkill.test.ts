// SPDX-License-Identifier: Apache-2.0
// The router as a real process, killed with SIGKILL under load and restarted on the same store. Every accepted
// message is accounted for: acked with recorded=true before the crash (never comes back), redelivered after the
// restart, or — only if an ack for it was sent and never answered — removed by that ack before the kill.
import { afterAll, describe, expect, it } from '@jest/globals';
import { waitFor } from '@ecps/testkit';
import { createClient } from '@ecps/sw4rm';
import type { StreamItem } from '@ecps/sw4rm/proto';
import { killChildren, startChild } from './child';
import { Consumer, data, removeTmpDirs, tmpDb } from './helpers';

afterAll(killChildren);
afterAll(removeTmpDirs);

describe('router process: SIGKILL under load', () => {
  it('loses no accepted message across kill -9 and restart', async () => {
    const db = tmpDb();
    const env = { SW4RM_ROUTER_MAX_QUEUE: '100000', SW4RM_ROUTER_MAX_IN_FLIGHT: '100000' };
    const first = await startChild(['serve', '--db', db, '--port', '0'], env);
    const client = createClient('router', `127.0.0.1:${first.port}`, { attempts: 1, timeoutMs: 3000 });
    const producer = new Consumer(client, 'p');
    const consumer = new Consumer(client, 'c');
    const accepted = new Set<string>();
    // the consumer acks every second delivery and records what the router answered
    const ackSent = new Set<string>();
    const ackConfirmed = new Set<string>();
    const ackRefused = new Set<string>();
    let n = 0;
    consumer.call.on('data', (item: StreamItem) => {
      if (n++ % 2) return;
      const id = item.msg!.messageId;
      ackSent.add(id);
      client
        .ackDelivery({ agentId: 'c', seq: item.seq, messageId: id })
        .then((r) => (r.recorded ? ackConfirmed : ackRefused).add(id))
        .catch(() => undefined); // the process died before answering
    });
    let killed = false;
    const sender = async () => {
      while (!killed) {
        const e = data('p');
        try {
          const r = await client.sendMessage({ msg: e });
          if (r.accepted) accepted.add(e.messageId);
        } catch {
          // in flight when the process died: not accepted as far as we know
        }
      }
    };
    let warm = false;
    for (let i = 0; i < 50 && !warm; i++) {
      const e = data('p');
      const r = await client.sendMessage({ msg: e });
      if (r.accepted) {
        accepted.add(e.messageId);
        warm = true;
      } else await new Promise((res) => setTimeout(res, 20));
    }
    expect(warm).toBe(true);
    const senders = Array.from({ length: 8 }, () => sender());
    await waitFor(() => accepted.size >= 300 && ackSent.size >= 50, '300 accepted messages and acks under way', 30_000);
    first.child.kill('SIGKILL');
    killed = true;
    await Promise.all(senders);
    // the child may be gone already (the senders can take seconds to notice): an 'exit' listener would wait forever
    if (first.child.exitCode === null && first.child.signalCode === null) await new Promise((r) => first.child.once('exit', r));
    producer.cancel();
    consumer.cancel();
    client.close();
    const unanswered = [...ackSent].filter((id) => !ackConfirmed.has(id) && !ackRefused.has(id));

    const second = await startChild(['serve', '--db', db, '--port', '0'], env);
    const client2 = createClient('router', `127.0.0.1:${second.port}`);
    const after = new Consumer(client2, 'c');
    after.call.on('data', (item: StreamItem) => void client2.ackDelivery({ agentId: 'c', seq: item.seq, messageId: item.msg!.messageId }).catch(() => undefined));
    // rows replay in ascending seq and new rows queue behind them: once this sentinel arrives, the replay is complete
    const sentinel = data('p');
    expect(await client2.sendMessage({ msg: sentinel })).toEqual({ accepted: true, reason: 'Message delivered to 1 recipients' });
    await waitFor(() => after.ids().includes(sentinel.messageId), 'the replay up to the sentinel', 30_000);
    const redelivered = new Set(after.ids());
    const lostToAck = [...accepted].filter((id) => !redelivered.has(id) && !ackConfirmed.has(id));
    process.stderr.write(
      `sigkill: accepted=${accepted.size} ack-sent=${ackSent.size} confirmed=${ackConfirmed.size} refused=${ackRefused.size} ` +
        `unanswered=${unanswered.length} redelivered=${redelivered.size - 1} removed-by-unanswered-ack=${lostToAck.length}\n`,
    );
    // acks confirmed before the crash are durable: none of those comes back
    expect([...ackConfirmed].filter((id) => redelivered.has(id))).toEqual([]);
    // an ack the router refused deleted nothing: the message comes back
    expect([...ackRefused].filter((id) => !redelivered.has(id))).toEqual([]);
    // every other accepted message comes back, except those whose ack was sent but never answered
    expect(lostToAck.filter((id) => !unanswered.includes(id))).toEqual([]);
    expect(accepted.size).toBeGreaterThanOrEqual(300);
    after.cancel();
    client2.close();
    second.child.kill('SIGTERM');
    const code = await new Promise((r) => second.child.once('exit', r));
    expect(code).toBe(0);
  }, 120_000);
});
