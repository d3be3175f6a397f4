// SPDX-License-Identifier: Apache-2.0
// The round workload of the simulated fleet (src/fleet.ts): a leader summarises only fresh input, and says when it had none.
import { describe, expect, it } from '@jest/globals';
import { MemoryNetwork, PeatReplica, VirtualClock, meshTransport } from '@ecps/peat';
import { planFleet, writeNodeState, writePlatoonSummary, writeSquadSummary } from '../src/index';

describe('fleet workload', () => {
  it('a squad leader writes a summary of fresh states, and nothing (false) when every state is stale', async () => {
    const clock = new VirtualClock();
    const plan = planFleet(8, true);
    const leader = plan.places[0]!;
    const replica = await PeatReplica.open({ transport: meshTransport({ link: new MemoryNetwork({ clock }).link(leader.id), clock }), clock });
    try {
      await writeNodeState(replica, leader, 0, clock.now());
      expect(await writeSquadSummary(replica, plan, 0, clock.now() + 7_000)).toBe(false);
      expect(await replica.list('squad_summaries')).toEqual([]);
      expect(await writeSquadSummary(replica, plan, 0, clock.now() + 400)).toBe(true);
      expect(await replica.get('squad_summaries', 'sq0')).toMatchObject({ squad_id: 'sq0', leader_id: leader.id, operational_count: 1 });
      expect(await writePlatoonSummary(replica, 0, clock.now() + 7_000)).toBe(false);
      expect(await writePlatoonSummary(replica, 0, clock.now() + 700)).toBe(true);
    } finally {
      await replica.stop();
    }
  });
});
