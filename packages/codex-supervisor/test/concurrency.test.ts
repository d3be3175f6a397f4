// SPDX-License-Identifier: Apache-2.0
// Checklist 9 on both stores: 100 concurrent API-style mutations while the supervisor writes the same bot.
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startPostgres, type PostgresHandle } from '@ecps/testkit';
import type { Bot, RegistryOptions } from '@ecps/codex-registry';
import { createHarness, IDLE_BOT, type Harness } from './harness';

let pg: PostgresHandle;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

let h: Harness;
afterEach(async () => {
  await h.close();
  expect(h.botProcesses()).toEqual([]);
});

const stores: [string, () => Promise<(dir: string) => RegistryOptions>][] = [
  ['JSON file', async () => (dir) => ({ backend: 'json', file: join(dir, 'registry.json') })],
  ['PostgreSQL', async () => {
    const databaseUrl = await pg.createDatabase('concurrency');
    return () => ({ backend: 'postgres', databaseUrl, poolSize: 5 });
  }],
];

describe.each(stores)('checklist 9 on the %s store', (_name, registry) => {
  it('100 concurrent mutations plus supervisor writes (start, samples, stop) lose no update', async () => {
    h = await createHarness({ registry: await registry() });
    const bot = await h.addBot('busy.js', IDLE_BOT);
    await h.supervisor.start(bot.id);
    const mutations = Array.from({ length: 100 }, (_, i) =>
      h.registry.bots.update(bot.id, (b) => (i % 2 ? { ...b, tags: { ...b.tags, [`t${i}`]: 'x' } } : { ...b, annotations: { ...b.annotations, [`a${i}`]: 'x' } })),
    );
    const supervisorWrites = (async () => {
      for (let i = 0; i < 5; i++) await h.supervisor.tick();
      await h.supervisor.stop(bot.id);
    })();
    await Promise.all([...mutations, supervisorWrites]);
    const final = (await h.registry.bots.get(bot.id)) as Bot;
    expect(Object.keys(final.tags).length + Object.keys(final.annotations).length).toBe(100);
    expect(final.status).toBe('stopped');
    expect(final.performance.logs.filter((l) => l.event === 'metrics').length).toBeGreaterThanOrEqual(1);
    // every write is counted: 1 create + 100 mutations + the supervisor's own writes
    expect(final.revision).toBeGreaterThan(101);
  });
});
