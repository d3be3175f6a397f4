// SPDX-License-Identifier: Apache-2.0
// On PostgreSQL (one real cluster from the testkit for the file): the credential store's contract suite, and the server
// with bots and credentials in the database, refresh rotation and reuse detection shared by two servers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { isCodexError } from '@ecps/codex-registry';
import { startPostgres, type PostgresHandle } from '@ecps/testkit';
import { PostgresAuthStore } from '../src/index';
import { describeAuthStoreContract } from './auth-store-contract';
import { createHarness, PASSWORD, type Harness } from './harness';

let pg: PostgresHandle;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg?.stop();
});

let databases = 0;
describeAuthStoreContract('PostgreSQL', async () => {
  // A fresh database per test: the store migrates the schema itself (no registry opened first).
  const url = await pg.createDatabase(`auth_contract_${++databases}`);
  return { open: (now) => PostgresAuthStore.open({ connectionString: url, now }), cleanup: async () => {} };
});

describe('PostgresAuthStore', () => {
  it('an unreachable database is storage_unavailable at open', async () => {
    const error = await PostgresAuthStore.open({ connectionString: `postgres://ecps@127.0.0.1:${pg.port}/no_such_database` }).catch((e: unknown) => e);
    expect(isCodexError(error, 'storage_unavailable')).toBe(true);
  });
});

describe('two servers on one database', () => {
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    const url = await pg.createDatabase('codex_api');
    a = await createHarness({ REGISTRY_BACKEND: 'postgres', DATABASE_URL: url });
    b = await createHarness({ REGISTRY_BACKEND: 'postgres', DATABASE_URL: url });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('keeps bots and credentials in PostgreSQL; a refresh token rotated on one server is reused on the other and revokes the family', async () => {
    expect((await a.call('POST', '/api/v1/bots', { token: a.tokens.admin, body: { id: 'pg-bot', name: 'PG', blueprint: 'p.js' } })).status).toBe(201);
    // The other server sees the bot and accepts the first server's users and tokens.
    expect((await b.call('GET', '/api/v1/bots/pg-bot', { token: a.tokens.viewer })).body.id).toBe('pg-bot');
    const pair = (await b.call('POST', '/api/v1/auth/login', { body: { username: 'operator', password: PASSWORD } })).body;
    const rotated = await a.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } });
    expect(rotated.status).toBe(200);
    expect((await b.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } })).status).toBe(401);
    expect((await a.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: rotated.body.refresh_token } })).status).toBe(401);
    // Logout on one server is honoured by the other.
    const session = (await a.call('POST', '/api/v1/auth/login', { body: { username: 'viewer', password: PASSWORD } })).body;
    expect((await a.call('POST', '/api/v1/auth/logout', { token: session.access_token })).status).toBe(204);
    expect((await b.call('GET', '/api/v1/bots', { token: session.access_token })).status).toBe(401);
    // API keys live in the database too.
    const key = (await a.call('POST', '/api/v1/api-keys', { token: a.tokens.admin, body: { service_name: 'ci', roles: ['viewer'] } })).body.key;
    expect((await b.call('GET', '/api/v1/system/stats', { headers: { 'x-api-key': key } })).status).toBe(200);
  }, 60_000);
});
