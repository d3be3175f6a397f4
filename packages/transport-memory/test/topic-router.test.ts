import { describe, expect, it } from '@jest/globals';
import { topicMatches } from '@ecps/core';
import { testEvent, waitFor } from '@ecps/testkit';
import { MemoryBus, memoryTransport } from '../src/index';
import { TopicRouter } from '../src/topic-router';

describe('TopicRouter', () => {
  it('answers like topicMatches over every attach order, detach and cache eviction', () => {
    let seed = 12345;
    const next = (n: number) => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % n);
    const levels = ['a', 'b', '', '+', '#'];
    const randomPath = (wild: boolean) =>
      Array.from({ length: 1 + next(4) }, () => levels[next(wild ? 5 : 3)]!).join('/');
    const validFilter = (f: string) => f.split('/').every((l, i, all) => l !== '#' || i === all.length - 1);
    // a two-topic cache so that eviction happens constantly
    const router = new TopicRouter<number>(2);
    const live = new Map<number, string>();
    for (let step = 0; step < 3000; step++) {
      if (next(3) === 0 && live.size > 0) {
        const ids = [...live.keys()];
        const id = ids[next(ids.length)]!;
        router.remove(live.get(id)!, id);
        live.delete(id);
      } else {
        const filter = randomPath(true);
        if (!validFilter(filter)) continue;
        router.add(filter, step);
        live.set(step, filter);
      }
      const topic = randomPath(false);
      const expected = [...live].filter(([, f]) => topicMatches(f, topic)).map(([id]) => id);
      expect(router.match(topic)).toEqual(expected);
      expect(router.match(topic)).toEqual(expected);
    }
  });

  it('prunes the trie when the last wildcard filter leaves', () => {
    const router = new TopicRouter<string>();
    router.add('a/+/c/#', 'x');
    router.remove('a/+/c/#', 'x');
    expect(router.match('a/b/c/d')).toEqual([]);
    expect((router as unknown as { wildcards: { children: Map<string, unknown> } }).wildcards.children.size).toBe(0);
  });
});

describe('memory bus delivery queue', () => {
  it('keeps order through thousands of queued events, sync and async handlers alike', async () => {
    const bus = new MemoryBus();
    const a = memoryTransport({ nodeId: 'a', bus });
    const b = memoryTransport({ nodeId: 'b', bus });
    const sync: string[] = [];
    const async: string[] = [];
    await b.subscribe('t/+', (e) => void sync.push(e.id));
    await b.subscribe('t/#', async (e) => {
      if (async.length % 100 === 0) await new Promise((r) => setImmediate(r));
      async.push(e.id);
    });
    const ids = Array.from({ length: 5000 }, (_, i) => `e${i}`);
    for (const id of ids) await a.publish('t/x', { ...testEvent('urn:ecps:a'), id });
    await waitFor(() => async.length === ids.length, 'every event');
    expect(sync).toEqual(ids);
    expect(async).toEqual(ids);
    expect(bus.stats.delivered).toBe(2 * ids.length);
    await a.close();
    await b.close();
  });
});
