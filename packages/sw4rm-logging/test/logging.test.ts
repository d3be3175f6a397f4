// SPDX-License-Identifier: Apache-2.0
// LoggingService over real gRPC into a real append-only file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createClient, timestampFromMs } from '@ecps/sw4rm';
import { startLogging } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'sw4rm-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('LoggingService over gRPC (spec §3.14)', () => {
  it('validates level and details_json, appends accepted events in order, keeps earlier lines on restart', async () => {
    const path = join(dir, 'events.jsonl');
    let running = await startLogging({ port: 0, sink: path });
    let c = createClient('logging', `127.0.0.1:${running.port}`);
    expect(await c.ingest({ level: 'DEBUG', detailsJson: '{}' })).toEqual({ ok: false });
    expect(await c.ingest({ level: 'INFO', detailsJson: '{broken' })).toEqual({ ok: false });
    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        c.ingest({ ts: timestampFromMs(1_750_000_000_000 + i), level: i % 2 ? 'WARN' : 'INFO', eventType: 'step', agentId: 'a', correlationId: `c${i}`, detailsJson: JSON.stringify({ i }) }),
      ),
    );
    expect(sent.every((r) => r.ok)).toBe(true);
    c.close();
    await running.stop();
    running = await startLogging({ port: 0, sink: path });
    c = createClient('logging', `127.0.0.1:${running.port}`);
    expect(await c.ingest({ level: 'ERROR', eventType: 'crash', agentId: 'b' })).toEqual({ ok: true });
    c.close();
    await running.stop();
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(21);
    expect(lines[0]).toEqual({ ts: '2025-06-15T15:06:40.000Z', level: 'INFO', event_type: 'step', agent_id: 'a', correlation_id: 'c0', details: { i: 0 } });
    expect(lines.slice(0, 20).map((l) => (l['details'] as { i: number }).i).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(lines[20]).toMatchObject({ level: 'ERROR', event_type: 'crash', agent_id: 'b', details: null });
  });
});
