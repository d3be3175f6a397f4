// SPDX-License-Identifier: Apache-2.0
// The JSON-file credential store: the shared contract, and what only a file can get wrong.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { isCodexError } from '@ecps/codex-registry';
import { JsonAuthStore } from '../src/index';
import { describeAuthStoreContract } from './auth-store-contract';

describeAuthStoreContract('JSON file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'codex-auth-'));
  return { open: (now) => JsonAuthStore.open(join(dir, 'codex32_auth.json'), now), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('JsonAuthStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'codex-auth-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a corrupt file instead of starting empty', async () => {
    const file = join(dir, 'codex32_auth.json');
    writeFileSync(file, '{"schema_version": 1, "users": 3}');
    const error = await JsonAuthStore.open(file).catch((e: unknown) => e);
    expect(isCodexError(error, 'registry_corrupt')).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('{"schema_version": 1, "users": 3}');
  });

  it('a failed write is storage_unavailable and changes nothing in memory', async () => {
    const file = join(dir, 'codex32_auth.json');
    const store = await JsonAuthStore.open(file);
    await store.revokeAccessToken('00000000-0000-4000-8000-000000000001', Date.now() + 60_000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    rmSync(file);
    mkdirSync(file); // the final rename onto the file fails, even for root
    const error = await store.revokeAccessToken('00000000-0000-4000-8000-000000000002', Date.now() + 60_000).catch((e: unknown) => e);
    expect(isCodexError(error, 'storage_unavailable')).toBe(true);
    expect(await store.isAccessTokenRevoked('00000000-0000-4000-8000-000000000002', Date.now())).toBe(false);
    expect(await store.isAccessTokenRevoked('00000000-0000-4000-8000-000000000001', Date.now())).toBe(true);
    await store.close();
  });
});
