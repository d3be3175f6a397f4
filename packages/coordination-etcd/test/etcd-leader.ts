// SPDX-License-Identifier: Apache-2.0
// Which member of a test etcd cluster leads, asked of the members themselves (maintenance Status).
import { sleep } from '@ecps/testkit';
import type { EtcdClusterHandle } from '@ecps/testkit';
import { Etcd3 } from 'etcd3';

/** The index of the member that leads, asked of every member that answers; undefined while none does. */
async function leaderIndex(etcd: EtcdClusterHandle): Promise<number | undefined> {
  const answers = await Promise.all(
    etcd.endpoints.map(async (endpoint, i) => {
      if (etcd.pids[i] === -1) return undefined;
      const client = new Etcd3({ hosts: endpoint, defaultCallOptions: () => ({ deadline: Date.now() + 1_000 }) });
      try {
        const s = await client.maintenance.status();
        return { i, self: s.header.member_id, leader: s.leader };
      } catch {
        return undefined;
      } finally {
        client.close();
      }
    }),
  );
  const ok = answers.filter((a) => a !== undefined);
  const leader = ok.find((a) => a.self === a.leader && a.leader !== '0');
  return leader?.i;
}

/** Waits (up to 15 s) until a member other than `not` leads (-1: any member); returns its index. */
export async function newLeader(etcd: EtcdClusterHandle, not: number): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const i = await leaderIndex(etcd);
    if (i !== undefined && i !== not) return i;
    if (Date.now() > deadline) throw new Error(`no etcd leader other than member ${not} after 15 s`);
    await sleep(100);
  }
}

