// SPDX-License-Identifier: Apache-2.0
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ManualClock, seededRandom } from '@ecps/core';
import { CodexEventBus, type CodexEvent } from './events';
import { JsonlIncidentLog } from './incidents';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('JsonlIncidentLog', () => {
  it('appends, publishes, ids are unique within one millisecond, and tail reads the newest first-filtered', async () => {
    dir = mkdtempSync(join(tmpdir(), 'codex-inc-'));
    const events = new CodexEventBus();
    const seen: CodexEvent[] = [];
    events.subscribe((e) => seen.push(e));
    const clock = new ManualClock(Date.parse('2025-01-01T00:00:00Z'));
    const log = new JsonlIncidentLog({ file: join(dir, 'incidents.jsonl'), events, clock, random: seededRandom(1) });
    const a = await log.record({ bot_id: 'a', bot_name: 'A', kind: 'exited', message: 'exit 1', data: { exit_code: 1 } });
    const b = await log.record({ bot_id: 'a', kind: 'restart', message: 'restarted' });
    await log.record({ bot_id: 'b', kind: 'exited', message: 'exit 2' });
    expect(a.incident_id).toMatch(/^inc-a-1735689600000-[0-9a-f]{4}$/);
    expect(b.incident_id).not.toBe(a.incident_id);
    expect(a.created_at).toBe('2025-01-01T00:00:00.000Z');
    expect(seen.map((e) => e.type)).toEqual(['incident', 'incident', 'incident']);
    expect((await log.tail()).map((i) => i.message)).toEqual(['exit 1', 'restarted', 'exit 2']);
    expect((await log.tail({ limit: 2 })).map((i) => i.message)).toEqual(['restarted', 'exit 2']);
    expect((await log.tail({ bot_id: 'a', kind: 'exited' })).map((i) => i.message)).toEqual(['exit 1']);
  });

  it('rotates at the size limit keeping .1 to .5, and tail reads across the rotated files', async () => {
    dir = mkdtempSync(join(tmpdir(), 'codex-inc-'));
    const file = join(dir, 'incidents.jsonl');
    const log = new JsonlIncidentLog({ file, maxBytes: 1024 });
    for (let i = 0; i < 60; i++) await log.record({ bot_id: 'x', kind: 'cpu_warning', message: `n${i}`, data: { pad: 'p'.repeat(100) } });
    for (let i = 1; i <= 5; i++) expect(existsSync(`${file}.${i}`)).toBe(true);
    expect(existsSync(`${file}.6`)).toBe(false);
    expect(readFileSync(file).length).toBeLessThanOrEqual(1024);
    const tail = await log.tail({ limit: 12 });
    expect(tail.map((i) => i.message)).toEqual(Array.from({ length: 12 }, (_, i) => `n${48 + i}`));
    expect((await log.tail({ limit: 1000 })).length).toBeLessThan(60); // what rotated past .5 is gone: bounded
  });
});
