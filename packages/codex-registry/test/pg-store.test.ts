// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL store against a real cluster (initdb in a temp folder, by @ecps/testkit).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { startPostgres, waitFor, type PostgresHandle } from '@ecps/testkit';
import { applyBotEvent, isCodexError, MIGRATIONS, openRegistry, PostgresStore, type CodexEvent } from '../src/index';
import { bot, describeBotStoreContract } from './store-contract';

let server: PostgresHandle;
let databases = 0;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

describeBotStoreContract('PostgreSQL', async () => {
  const url = await server.createDatabase(`contract_${++databases}`);
  return { open: () => PostgresStore.open({ connectionString: url, poolSize: 5 }), cleanup: async () => {} };
});

describe('PostgresStore', () => {
  it('checklist 10: a revision conflict between two servers is a 409 revision_conflict; without an expected revision the update is retried', async () => {
    const url = await server.createDatabase('conflict');
    const a = await PostgresStore.open({ connectionString: url, poolSize: 4 });
    const b = await PostgresStore.open({ connectionString: url, poolSize: 4 });
    try {
      await a.create(bot('shared'));
      await b.update('shared', (x) => ({ ...x, description: 'from b' }));
      const error = await a.update('shared', (x) => ({ ...x, description: 'from a' }), 1).catch((e: unknown) => e);
      expect(isCodexError(error, 'revision_conflict') && error.status).toBe(409);
      // 50 + 50 concurrent mutations from two servers (two pools, real row conflicts) lose nothing
      const field = (i: number) => (i < 50 ? 'tags' : 'annotations');
      await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).update('shared', (x) => ({ ...x, [field(i)]: { ...x[field(i)], [`k${i}`]: 'v' } }))));
      const final = (await a.get('shared'))!;
      expect(Object.keys(final.tags).length + Object.keys(final.annotations).length).toBe(100);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('several servers see each other’s changes through LISTEN/NOTIFY, and their own only once', async () => {
    const url = await server.createDatabase('notify');
    const a = await openRegistry({ backend: 'postgres', databaseUrl: url, poolSize: 3 });
    const b = await openRegistry({ backend: 'postgres', databaseUrl: url, poolSize: 3 });
    const onA: CodexEvent[] = [];
    const onB: CodexEvent[] = [];
    a.events.subscribe((e) => onA.push(e));
    b.events.subscribe((e) => onB.push(e));
    try {
      await a.bots.create(bot('n1'));
      await a.bots.update('n1', (x) => applyBotEvent(x, { type: 'start' }, Date.now()));
      await a.incidents.record({ bot_id: 'n1', kind: 'exited', message: 'exit 1' });
      await a.bots.delete('n1');
      await waitFor(() => onB.length >= 5, 'the other server to see five changes');
      expect(onB.map((e) => [e.type, e.remote])).toEqual([
        ['bot.created', true],
        ['bot.updated', true],
        ['bot.status', true],
        ['incident', true],
        ['bot.deleted', true],
      ]);
      expect(onB[2]!.data).toEqual({ bot_id: 'n1', from: 'created', to: 'deploying' });
      expect(onA.map((e) => e.type)).toEqual(['bot.created', 'bot.updated', 'bot.status', 'incident', 'bot.deleted']);
      expect(onA.some((e) => e.remote)).toBe(false);
      expect((await b.incidents.tail({ bot_id: 'n1' })).map((i) => i.kind)).toEqual(['exited']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a bot changed and deleted before another server reads it is still announced change by change, from the rows the notifications carry', async () => {
    const url = await server.createDatabase('notify_rows');
    const a = await openRegistry({ backend: 'postgres', databaseUrl: url, poolSize: 3 });
    const b = await openRegistry({ backend: 'postgres', databaseUrl: url, poolSize: 3 });
    const onB: CodexEvent[] = [];
    b.events.subscribe((e) => onB.push(e));
    const writer = new pg.Client({ connectionString: url, application_name: 'another-server' });
    await writer.connect();
    try {
      await a.bots.create(bot('template'));
      // a row too large for pg_notify's payload (8000 bytes) travels without it and is read by the listener
      await a.bots.create(bot('large', { description: 'x'.repeat(9000) }));
      await waitFor(() => onB.length >= 2, 'the two creations');
      expect((onB[1]!.data as { bot: { description: string } }).bot.description).toHaveLength(9000);
      // one transaction: its three notifications arrive together at commit, when the row is already gone
      const { rows } = await writer.query<{ columns: string }>(
        `SELECT string_agg(column_name, ', ') AS columns FROM information_schema.columns WHERE table_name = 'bots' AND is_generated = 'NEVER'`,
      );
      const columns = rows[0]!.columns;
      await writer.query('BEGIN');
      await writer.query(
        `INSERT INTO bots (${columns}) SELECT ${columns} FROM jsonb_populate_record(NULL::bots, (SELECT to_jsonb(t) || '{"id": "brief", "name": "Bot brief"}' FROM bots t WHERE id = 'template'))`,
      );
      await writer.query(`UPDATE bots SET status = 'deploying', revision = revision + 1 WHERE id = 'brief'`);
      await writer.query(`DELETE FROM bots WHERE id = 'brief'`);
      await writer.query('COMMIT');
      await waitFor(() => onB.length >= 6, 'every change of the brief bot');
      expect(onB.slice(2).map((e) => [e.type, e.remote])).toEqual([
        ['bot.created', true],
        ['bot.updated', true],
        ['bot.status', true],
        ['bot.deleted', true],
      ]);
      expect((onB[2]!.data as { bot: { id: string; created_at: string } }).bot).toMatchObject({ id: 'brief', created_at: (await a.bots.get('template'))!.created_at });
      expect(onB[4]!.data).toEqual({ bot_id: 'brief', from: 'created', to: 'deploying' });
    } finally {
      await writer.end();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('migrates once, records every version in schema_migrations, and tolerates two servers starting together', async () => {
    const url = await server.createDatabase('migrations');
    const stores = await Promise.all([PostgresStore.open({ connectionString: url, poolSize: 2 }), PostgresStore.open({ connectionString: url, poolSize: 2 })]);
    await Promise.all(stores.map((s) => s.close()));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await client.end();
    }
  });

  it('reports an unreachable database as storage_unavailable', async () => {
    const error = await PostgresStore.open({ connectionString: 'postgres://ecps@127.0.0.1:1/none' }).catch((e: unknown) => e);
    expect(isCodexError(error, 'storage_unavailable') && error.status).toBe(503);
  });
});
