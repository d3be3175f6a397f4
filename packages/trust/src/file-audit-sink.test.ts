// SPDX-License-Identifier: Apache-2.0
import { afterAll, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from './audit';
import { FileAuditSink } from './file-audit-sink';

const dir = mkdtempSync(join(tmpdir(), 'ecps-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (principal: string, allowed: boolean): AuditEvent => ({
  time: '2026-01-01T00:00:00Z',
  node: 'robot',
  principal,
  action: 'publish',
  resource: 'eap',
  allowed,
  ...(allowed ? {} : { reason: 'PERMISSION_DENIED' }),
  messageId: `m-${principal}`,
  messageType: 'ecps.eap.action',
});

it('appends one JSON line per event to a 0600 file, across reopenings, and refuses writes once closed', () => {
  const path = join(dir, 'audit.jsonl');
  const first = new FileAuditSink(path);
  first.write(event('planner', true));
  first.close();
  const second = new FileAuditSink(path);
  second.write(event('intruder', false));
  second.close();
  second.close();
  expect(statSync(path).mode & 0o777).toBe(0o600);
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEvent);
  expect(lines).toEqual([event('planner', true), event('intruder', false)]);
  expect(() => second.write(event('late', true))).toThrow(expect.objectContaining({ code: 'IO_ERROR' }));
});

it('throws IO_ERROR when the file cannot be opened', () => {
  expect(() => new FileAuditSink(join(dir, 'missing', 'audit.jsonl'))).toThrow(expect.objectContaining({ name: 'TrustError', code: 'IO_ERROR' }));
});
