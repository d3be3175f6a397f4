// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { CapabilityType as T, Health, Phase, VirtualClock } from '@ecps/peat';
import { Election, authorityScoreOf, candidateScore, rankCandidates, technicalScore } from '../src/index';
import type { CandidateScore, CellPayload, LeaderRecord } from '../src/index';
import { cap, config, operator } from './fixtures';

const nominal = (fuel: number) => ({ health: Health.NOMINAL, fuel_minutes: fuel, phase: Phase.CELL });

describe('checklist 7: election scores (§3.2 vectors)', () => {
  const a = config('a', [cap(T.COMPUTE, 0.9), cap(T.COMMUNICATION, 0.8), cap(T.SENSOR, 0.5), cap(T.SENSOR, 0.5)]);
  const b = config('b', [cap(T.COMMUNICATION, 0.9)], [operator({ rank: 'E6', authority_level: 'Supervisor', cognitive_load: 0.3 })]);

  it('A: T = 0.82 (8200); B: A = 0.52, T = 0.40, S = 0.472 (4720); A is ineligible and B wins either way', () => {
    expect(technicalScore(a, nominal(120))).toBeCloseTo(0.82, 9);
    const sa = candidateScore('a', a, nominal(120));
    expect(sa.technical_q).toBe(8200);
    expect(sa.eligible).toBe(false);
    const sb = candidateScore('b', b, nominal(60));
    expect(sb.authority).toBeCloseTo(0.52, 9);
    expect(sb.technical).toBeCloseTo(0.4, 9);
    expect(sb.score_q).toBe(4720);
    expect(rankCandidates([sa, sb]).ranking[0]!.node_id).toBe('b');
    const aAuto = candidateScore('a', a, nominal(120), { allowAutonomousLeaders: true });
    expect(aAuto.score).toBeCloseTo(0.328, 9);
    expect(rankCandidates([aAuto, sb]).ranking[0]!.node_id).toBe('b');
  });

  it('operators qualify only under the load, fatigue and rank limits; the policies weigh as specified', () => {
    expect(authorityScoreOf(config('x', [], [operator({ rank: 'E4' })])).qualified).toBe(false);
    expect(authorityScoreOf(config('x', [], [operator({ cognitive_load: 0.86 })])).qualified).toBe(false);
    expect(authorityScoreOf(config('x', [], [operator({ fatigue: 0.76 })])).qualified).toBe(false);
    const sb = (policy: 'rank_dominant' | 'technical_dominant' | 'contextual', phase: number) =>
      candidateScore('b', b, { ...nominal(60), phase }, { policy }).score;
    expect(sb('rank_dominant', Phase.CELL)).toBeCloseTo(0.52, 9);
    expect(sb('technical_dominant', Phase.CELL)).toBeCloseTo(0.4, 9);
    expect(sb('contextual', Phase.HIERARCHY)).toBeCloseTo(0.8 * 0.52 + 0.2 * 0.4, 9);
    expect(sb('contextual', Phase.DISCOVERY)).toBeCloseTo(0.7 * 0.52 + 0.3 * 0.4, 9);
  });

  it('ranks by (score_q desc, node_id desc); with no eligible candidate by technical_q and flags autonomy', () => {
    const c = (node_id: string, score_q: number, technical_q: number, eligible: boolean): CandidateScore => ({ node_id, score_q, technical_q, eligible });
    expect(rankCandidates([c('a', 5000, 1, true), c('b', 5000, 1, true), c('z', 4999, 9999, true)]).ranking.map((x) => x.node_id)).toEqual(['b', 'a', 'z']);
    const auto = rankCandidates([c('a', 0, 7000, false), c('b', 0, 6000, false)]);
    expect(auto).toEqual({ ranking: [c('a', 0, 7000, false), c('b', 0, 6000, false)], autonomous: true });
  });
});

/** A cell of elections on one virtual clock with a broadcast network that can drop nodes. */
function cellNet(scores: Record<string, number>) {
  const clock = new VirtualClock();
  const down = new Set<string>();
  const nodes = new Map<string, Election>();
  const leaders = new Map<string, LeaderRecord | null>();
  const log: { from: string; payload: CellPayload }[] = [];
  const add = (id: string) => {
    const e = new Election({
      nodeId: id,
      clock,
      self: () => ({ node_id: id, score_q: scores[id]!, technical_q: scores[id]!, eligible: true }),
      broadcast: (payload) => {
        if (down.has(id)) return;
        log.push({ from: id, payload });
        // delivered asynchronously on the virtual clock, as a network would
        clock.setTimeout(() => {
          for (const [other, node] of nodes) if (other !== id && !down.has(other)) node.handle(payload);
        }, 10);
      },
      onLeader: (l) => leaders.set(id, l),
    });
    nodes.set(id, e);
    return e;
  };
  for (const id of Object.keys(scores)) add(id);
  return { clock, down, nodes, leaders, log, add };
}

describe('checklist 7: the election state machine', () => {
  it('all nodes that saw the same candidacies agree; the highest (score_q, node_id) leads and heartbeats; the runner-up is deputy', () => {
    const net = cellNet({ n1: 5000, n2: 7000, n3: 7000, n4: 1000 });
    for (const e of net.nodes.values()) e.startElection();
    net.clock.advance(5_100);
    for (const [id, e] of net.nodes) {
      expect(e.leader?.node_id).toBe('n3');
      expect(e.round).toBe(1);
      expect(e.role).toBe(id === 'n3' ? 'Leader' : 'Follower');
    }
    expect(net.nodes.get('n3')!.deputy).toBe('n2');
    net.clock.advance(20_000);
    expect([...net.nodes.values()].every((e) => e.leader?.node_id === 'n3')).toBe(true); // heartbeats keep it
  });

  it('a dead leader is declared failed after 3 × 2 s of silence and a higher round elects another; no preemption when it returns', () => {
    const net = cellNet({ n1: 5000, n2: 6000, n3: 9000 });
    for (const e of net.nodes.values()) e.startElection();
    net.clock.advance(5_100);
    expect(net.nodes.get('n1')!.leader?.node_id).toBe('n3');
    net.down.add('n3');
    net.clock.advance(5_900);
    expect(net.nodes.get('n1')!.leader?.node_id).toBe('n3'); // not yet 6 s
    net.clock.advance(2_000 + 2_100); // detection (≤ 2 s tick) + emergency window 2 s
    for (const id of ['n1', 'n2']) {
      expect(net.nodes.get(id)!.leader?.node_id).toBe('n2');
      expect(net.nodes.get(id)!.round).toBe(2);
    }
    // n3 returns with its stale round-1 state: it is told who leads and follows (no preemption, though it scores higher)
    net.down.delete('n3');
    net.clock.advance(2_100);
    const n3 = net.nodes.get('n3')!;
    expect(n3.role).toBe('Follower');
    expect(n3.leader?.node_id).toBe('n2');
    expect(n3.round).toBe(2);
    expect(net.nodes.get('n2')!.role).toBe('Leader');
  });

  it('stale rounds are dropped and answered with the current leader', () => {
    const net = cellNet({ n1: 5000, n2: 6000 });
    for (const e of net.nodes.values()) e.startElection();
    net.clock.advance(5_100);
    const n2 = net.nodes.get('n2')!;
    net.nodes.get('n2')!.startElection(); // round 2
    net.clock.advance(5_100);
    const before = net.log.length;
    n2.handle({ type: 'Candidacy', candidate_id: 'old', election_round: 1, score_q: 9999, technical_q: 9999, eligible: true });
    expect(n2.stats.staleDropped).toBe(1);
    expect(n2.leader?.node_id).toBe('n2');
    expect(net.log.slice(before)).toEqual([{ from: 'n2', payload: { type: 'LeaderAnnounce', leader_id: 'n2', election_round: 2, score_q: 6000 } }]);
  });

  it('two leaders in one round (lost messages) resolve on first contact: the lower ranked steps down', () => {
    const net = cellNet({ n1: 5000, n2: 6000 });
    net.down.add('n2');
    net.nodes.get('n1')!.startElection();
    net.down.delete('n2');
    net.down.add('n1');
    net.nodes.get('n2')!.startElection();
    net.clock.advance(5_050);
    expect(net.nodes.get('n1')!.role).toBe('Leader');
    expect(net.nodes.get('n2')!.role).toBe('Leader');
    net.down.delete('n1');
    net.clock.advance(2_100); // heartbeats / announces cross
    expect(net.nodes.get('n1')!.role).toBe('Follower');
    expect(net.nodes.get('n1')!.leader?.node_id).toBe('n2');
    expect(net.nodes.get('n2')!.role).toBe('Leader');
  });

  it('rounds never decrease and a higher-round candidacy pulls a node into that round', () => {
    const net = cellNet({ n1: 5000 });
    const e = net.nodes.get('n1')!;
    e.handle({ type: 'Candidacy', candidate_id: 'x', election_round: 7, score_q: 9000, technical_q: 9000, eligible: true });
    expect(e.round).toBe(7);
    expect(e.role).toBe('Candidate');
    e.startElection();
    expect(e.round).toBe(8);
  });

  it('with no eligible candidate the technical winner leads, flagged autonomous', () => {
    const clock = new VirtualClock();
    const seen: (LeaderRecord | null)[] = [];
    const e = new Election({ nodeId: 'a', clock, self: () => ({ node_id: 'a', score_q: 0, technical_q: 8200, eligible: false }), broadcast: () => undefined, onLeader: (l) => seen.push(l) });
    e.startElection();
    e.handle({ type: 'Candidacy', candidate_id: 'b', election_round: 1, score_q: 0, technical_q: 4000, eligible: false });
    clock.advance(5_000);
    expect(seen).toEqual([{ node_id: 'a', round: 1, score_q: 0, autonomous: true }]);
    e.close();
  });
});
