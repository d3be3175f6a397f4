// SPDX-License-Identifier: Apache-2.0
// The pure parts of the hierarchy: command targeting, item priorities and reading, and leader choice.
import { describe, expect, it } from '@jest/globals';
import { PeatError } from '@ecps/peat';
import type { SquadSummary } from '@ecps/peat-hierarchy';
import { commandIsFor, readDownItem, readUpItem, upPriority } from '../src/echelon-messages';
import type { HierarchicalCommand } from '../src/echelon-messages';
import { pickLeader, summaryOrNull } from '../src/echelon-summaries';

const command = (scope: HierarchicalCommand['target']['scope'], ids: string[]): HierarchicalCommand => ({
  command_id: 'k',
  originator_id: 'n9',
  target: { scope, target_ids: ids },
  command_type: 'MissionOrder',
  priority: 'ROUTINE',
  issued_at: 0,
  payload: null,
});

describe('echelon messages', () => {
  it('a command is for a node by its scope: everyone, its id, its cell, its zone', () => {
    const here = { nodeId: 'n1', cellId: 'c1', zoneId: 'z1' };
    expect(commandIsFor(command('BROADCAST', []), here)).toBe(true);
    expect(commandIsFor(command('INDIVIDUAL', ['n1']), here)).toBe(true);
    expect(commandIsFor(command('INDIVIDUAL', ['n2']), here)).toBe(false);
    expect(commandIsFor(command('SQUAD', ['c1']), here)).toBe(true);
    expect(commandIsFor(command('SQUAD', ['c1']), { ...here, cellId: null })).toBe(false);
    expect(commandIsFor(command('PLATOON', ['z1']), here)).toBe(true);
    expect(commandIsFor(command('PLATOON', ['z2']), here)).toBe(false);
  });

  it('up priority: statuses HIGH, events and summaries their own', () => {
    expect(upPriority({ type: 'status', status: {} as never })).toBe('HIGH');
    expect(upPriority({ type: 'event', event: { event_type: 'e', source: 's', priority: 'CRITICAL', mode: 'Full', timestamp: 0, payload: null } })).toBe('CRITICAL');
    expect(upPriority({ type: 'event_summary', summary: { event_type: 'e', count: 1, sources: [], first: 0, last: 0, priority: 'LOW' } })).toBe('LOW');
  });

  it('reads well-formed items and refuses the rest', () => {
    const cmd = { type: 'command', command: command('BROADCAST', []) };
    expect(readDownItem(cmd)).toBe(cmd);
    expect(readDownItem({ type: 'command', command: { ...command('BROADCAST', []), target: { scope: 'ALL', target_ids: [] } } })).toBeNull();
    expect(readDownItem({ type: 'control', directive_id: 'd', control: { action: 'rollback' } })).not.toBeNull();
    expect(readDownItem({ type: 'directive', directive: { directive_id: 'd' } })).toBeNull();
    expect(readDownItem(null)).toBeNull();
    expect(readDownItem({ type: 'other' })).toBeNull();
    expect(readUpItem({ type: 'status', status: { directive_id: 'd', node_id: 'n', reported_at: 't', state: 'active' } })).not.toBeNull();
    expect(readUpItem({ type: 'status', status: { directive_id: 'd', node_id: 'n', reported_at: 't', state: 'sleeping' } })).toBeNull();
    expect(readUpItem({ type: 'event_summary', summary: { event_type: 'e', priority: 'NORMAL' } })).not.toBeNull();
    expect(readUpItem({ type: 'event', event: { event_type: 'e', source: 's', priority: 'HIGH', mode: 'Full', timestamp: Number.NaN } })).toBeNull();
  });
});

describe('echelon summaries', () => {
  const s = (leader_id: string, readiness_score: number) => ({ leader_id, readiness_score }) as SquadSummary;

  it('the leader of a group: best quantized readiness, then the greatest id', () => {
    expect(pickLeader([])).toBeNull();
    expect(pickLeader([s('a', 0.5), s('b', 0.7)])).toBe('b');
    expect(pickLeader([s('b', 0.7), s('c', 0.700001)])).toBe('c'); // equal once quantized: the greater id
    expect(pickLeader([s('z', 0.69), s('a', 0.7)])).toBe('a');
  });

  it('summaryOrNull: null for nothing to summarise, any other error thrown', () => {
    expect(summaryOrNull(() => 1)).toBe(1);
    expect(summaryOrNull(() => { throw new PeatError('INVALID_ARGUMENT', 'empty'); })).toBeNull();
    expect(() => summaryOrNull(() => { throw new TypeError('bug'); })).toThrow(TypeError);
  });
});
