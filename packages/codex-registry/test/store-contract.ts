// SPDX-License-Identifier: Apache-2.0
// The contract every BotStore keeps; json-store.test.ts and pg-store.test.ts run it against the real stores.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { applyBotEvent, isCodexError, newBot, type Bot, type BotStore, type CodexEvent } from '../src/index';

export interface StoreFixture {
  /** Opens the store on the fixture's backing storage (the same file or database every time). */
  open(): Promise<BotStore>;
  /** Removes the backing storage. */
  cleanup(): Promise<void>;
}

let clockMs = Date.parse('2025-06-01T00:00:00Z');
export function bot(id: string, extra: Record<string, unknown> = {}): Bot {
  clockMs += 1000; // distinct creation times, so both stores agree on creation order
  return newBot({ id, name: `Bot ${id}`, blueprint: `${id}/main.py`, ...extra }, clockMs);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

export function describeBotStoreContract(name: string, makeFixture: () => Promise<StoreFixture>): void {
  describe(`BotStore contract: ${name}`, () => {
    let fixture: StoreFixture;
    let store: BotStore;
    beforeEach(async () => {
      fixture = await makeFixture();
      store = await fixture.open();
    });
    afterEach(async () => {
      await store.close();
      await fixture.cleanup();
    });

    it('starts empty', async () => {
      expect(await store.list()).toEqual({ bots: [], total: 0 });
      expect(await store.stats()).toEqual({ total_bots: 0, bots_by_status: {}, active_bots: 0, failed_bots: 0 });
    });

    it('creates, reads by id and by name (case-insensitive), and refuses a duplicate id or name', async () => {
      const created = await store.create(bot('alpha-1', { name: 'Alpha One' }));
      expect(created.revision).toBe(1);
      expect(await store.get('alpha-1')).toEqual(created);
      expect(await store.getByName('ALPHA one')).toEqual(created);
      expect(await store.get('nope')).toBeNull();
      const dupId = await rejection(store.create(bot('alpha-1', { name: 'Other' })));
      expect(isCodexError(dupId, 'conflict') && dupId.status).toBe(409);
      const dupName = await rejection(store.create(bot('alpha-2', { name: 'alpha ONE' })));
      expect(isCodexError(dupName, 'conflict')).toBe(true);
      expect((await store.list()).total).toBe(1);
    });

    it('filters by status and role, pages with limit and offset, and counts matches before paging', async () => {
      for (const [id, role] of [['a', 'collector'], ['b', 'worker'], ['c', 'collector'], ['d', 'collector']] as const) await store.create(bot(id, { role }));
      await store.update('c', (b) => applyBotEvent(b, { type: 'start' }, clockMs));
      expect((await store.list({ role: 'collector' })).bots.map((b) => b.id)).toEqual(['a', 'c', 'd']);
      expect((await store.list({ status: 'deploying' })).bots.map((b) => b.id)).toEqual(['c']);
      expect((await store.list({ status: 'created', role: 'collector' })).bots.map((b) => b.id)).toEqual(['a', 'd']);
      const page = await store.list({ limit: 2, offset: 1 });
      expect(page.bots.map((b) => b.id)).toEqual(['b', 'c']);
      expect(page.total).toBe(4);
    });

    it('updates read-modify-write: revision + 1, updated_at, id immutable, expected revision checked (409)', async () => {
      await store.create(bot('w'));
      const updated = await store.update('w', (b) => ({ ...b, id: 'hijack', description: 'changed' }));
      expect(updated).toMatchObject({ id: 'w', description: 'changed', revision: 2 });
      expect(await store.get('hijack')).toBeNull();
      const stale = await rejection(store.update('w', (b) => ({ ...b, description: 'lost' }), 1));
      expect(isCodexError(stale, 'revision_conflict') && stale.status).toBe(409);
      expect((await store.update('w', (b) => ({ ...b, description: 'ok' }), 2)).revision).toBe(3);
      expect(isCodexError(await rejection(store.update('nope', (b) => b)), 'not_found')).toBe(true);
    });

    it('writes nothing when the update function throws (illegal transition) or produces an invalid record', async () => {
      await store.create(bot('x'));
      const illegal = await rejection(store.update('x', (b) => applyBotEvent(b, { type: 'stop' }, clockMs)));
      expect(isCodexError(illegal, 'invalid_transition') && illegal.status).toBe(409);
      const invalid = await rejection(store.update('x', (b) => ({ ...b, status: 'paused' as Bot['status'] })));
      expect(isCodexError(invalid, 'validation_error')).toBe(true);
      await store.create(bot('y', { name: 'Taken' }));
      expect(isCodexError(await rejection(store.update('x', (b) => ({ ...b, name: 'TAKEN' }))), 'conflict')).toBe(true);
      expect(await store.get('x')).toMatchObject({ revision: 1, status: 'created', name: 'Bot x' });
    });

    it('deletes', async () => {
      await store.create(bot('gone'));
      expect(await store.delete('gone')).toBe(true);
      expect(await store.delete('gone')).toBe(false);
      expect(await store.get('gone')).toBeNull();
    });

    it('counts running bots as active and failed or quarantined bots as failed', async () => {
      for (const id of ['r', 'f', 'q', 'c']) await store.create(bot(id));
      const run = (b: Bot) => applyBotEvent(applyBotEvent(b, { type: 'start' }, clockMs), { type: 'spawned', pid: 4242, startedAt: 1 }, clockMs);
      await store.update('r', run);
      await store.update('f', (b) => applyBotEvent(run(b), { type: 'failed', error: 'boom' }, clockMs));
      await store.update('q', (b) => applyBotEvent(applyBotEvent(run(b), { type: 'failed', error: 'boom' }, clockMs), { type: 'quarantine', error: 'q' }, clockMs));
      expect(await store.stats()).toEqual({ total_bots: 4, bots_by_status: { running: 1, failed: 1, error: 1, created: 1 }, active_bots: 1, failed_bots: 2 });
    });

    it('exports and imports (replace and merge); a clashing import changes nothing', async () => {
      await store.create(bot('keep'));
      await store.create(bot('old'));
      const backup = await store.export();
      expect(backup).toMatchObject({ schema_version: 1, metadata: { total_bots: 2 } });
      await store.delete('old');
      await store.create(bot('new'));
      await store.import(backup, { merge: true });
      expect((await store.list()).bots.map((b) => b.id).sort()).toEqual(['keep', 'new', 'old']);
      await store.import(backup, { merge: false });
      expect((await store.list()).bots.map((b) => b.id).sort()).toEqual(['keep', 'old']);
      expect((await store.get('keep'))!.revision).toBeGreaterThan(1); // an overwritten bot moves its revision on
      const clash = { ...backup, bots: [{ ...backup.bots[0]!, id: 'other' }] }; // same name as 'keep', another id
      expect(isCodexError(await rejection(store.import(clash, { merge: true })), 'conflict')).toBe(true);
      expect((await store.list()).bots.map((b) => b.id).sort()).toEqual(['keep', 'old']);
    });

    it('publishes every change after it is durable (the listener reads the new state)', async () => {
      const seen: CodexEvent[] = [];
      const reads: Promise<number | null>[] = [];
      store.events.subscribe((event) => {
        seen.push(event);
        const id = 'bot' in event.data ? event.data.bot.id : 'bot_id' in event.data ? event.data.bot_id : '';
        reads.push(store.get(id).then((stored) => stored?.revision ?? null));
      });
      await store.create(bot('ev'));
      await store.update('ev', (b) => applyBotEvent(b, { type: 'start' }, clockMs));
      await store.delete('ev');
      expect(seen.map((e) => e.type)).toEqual(['bot.created', 'bot.updated', 'bot.status', 'bot.deleted']);
      expect(seen[2]!.data).toEqual({ bot_id: 'ev', from: 'created', to: 'deploying' });
      expect(seen.some((e) => e.remote)).toBe(false);
      // reads issued from inside the listener never see the state from before the change
      const revisions = await Promise.all(reads);
      expect(revisions[0]).not.toBeNull();
      expect(revisions[1]).not.toBe(1);
      expect(revisions[3]).toBeNull();
    });

    it('loses no update under 100 concurrent mutations interleaved with status writes', async () => {
      await store.create(bot('hot'));
      // 50 tags and 50 annotations (each map holds at most 64 entries)
      const tags = Array.from({ length: 100 }, (_, i) =>
        store.update('hot', (b) => (i % 2 ? { ...b, tags: { ...b.tags, [`t${i}`]: String(i) } } : { ...b, annotations: { ...b.annotations, [`a${i}`]: String(i) } })),
      );
      const lifecycle = (async () => {
        await store.update('hot', (b) => applyBotEvent(b, { type: 'start' }, clockMs));
        await store.update('hot', (b) => applyBotEvent(b, { type: 'spawned', pid: 7, startedAt: 7 }, clockMs));
        await store.update('hot', (b) => applyBotEvent(b, { type: 'stop' }, clockMs));
        await store.update('hot', (b) => applyBotEvent(b, { type: 'exited', exitCode: 0 }, clockMs));
      })();
      await Promise.all([...tags, lifecycle]);
      const final = (await store.get('hot'))!;
      expect(Object.keys(final.tags).length + Object.keys(final.annotations).length).toBe(100);
      expect(final).toMatchObject({ status: 'stopped', revision: 105 });
    });

    it('keeps everything across close and reopen', async () => {
      await store.create(bot('durable', { tags: { a: 'b' } }));
      await store.update('durable', (b) => ({ ...b, k8s_deployment_name: 'codex-bot-durable', k8s_pod_name: 'codex-bot-durable-5d8f-x2k9q' }));
      const before = await store.get('durable');
      expect(before).toMatchObject({ k8s_deployment_name: 'codex-bot-durable', k8s_pod_name: 'codex-bot-durable-5d8f-x2k9q' });
      await store.close();
      store = await fixture.open();
      expect(await store.get('durable')).toEqual(before);
    });

    it('refuses work once closed', async () => {
      await store.close();
      expect(isCodexError(await rejection(store.list()), 'closed')).toBe(true);
      store = await fixture.open();
    });
  });
}
