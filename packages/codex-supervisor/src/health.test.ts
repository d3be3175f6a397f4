// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { freePort } from '@ecps/testkit';
import { probe } from './health';

describe('health probes', () => {
  it('tcp: an accepting port is healthy, a closed one is not', async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    expect(await probe({ type: 'tcp', port }, '/', Date.now())).toEqual({ ok: true });
    await new Promise((r) => server.close(r));
    const closed = await freePort();
    expect(await probe({ type: 'tcp', port: closed, timeout_sec: 1 }, '/', Date.now())).toMatchObject({ ok: false, reason: expect.stringContaining('ECONNREFUSED') });
  });

  it('heartbeat_file: fresh is healthy; stale, missing or outside the working directory is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codex-hb-'));
    try {
      const now = Date.now();
      writeFileSync(join(dir, 'beat'), '');
      expect(await probe({ type: 'heartbeat_file', path: 'beat', max_age_sec: 30 }, dir, now)).toEqual({ ok: true });
      utimesSync(join(dir, 'beat'), new Date(now - 60_000), new Date(now - 60_000));
      expect(await probe({ type: 'heartbeat_file', path: 'beat', max_age_sec: 30 }, dir, now)).toMatchObject({ ok: false, reason: expect.stringMatching(/is 60 s old/) });
      expect(await probe({ type: 'heartbeat_file', path: 'none' }, dir, now)).toMatchObject({ ok: false });
      expect(await probe({ type: 'heartbeat_file', path: 'x/../../etc' }, dir, now)).toMatchObject({ ok: false, reason: expect.stringContaining('outside') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
