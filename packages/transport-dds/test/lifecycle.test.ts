// SPDX-License-Identifier: Apache-2.0
// Opening and closing participants leaves nothing behind: Cyclone's threads end with the last participant of a
// domain, and no thread-safe function, timer or handle of ours outlives close().
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { startNodeScript, waitFor } from '@ecps/testkit';
import type { EcpsEvent } from '@ecps/core';
import { ddsTransport } from '../src/index';
import { DOMAINS } from './domains';
import { BINDING_ENV } from './support/binding';

const domainId = DOMAINS.lifecycle;
const threadCount = () => readdirSync('/proc/self/task').length;
/** Active libuv resources (handles, requests, timers) by kind. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

async function cycle(i: number): Promise<void> {
  const sub = ddsTransport({ nodeId: `life-sub-${i}`, domainId });
  const pub = ddsTransport({ nodeId: `life-pub-${i}`, domainId });
  await sub.connect();
  await pub.connect();
  let count = 0;
  await sub.subscribe('life/cycle', () => void count++);
  await sub.serve('Life.Echo', (req) => ({ ...req, source: 'urn:ecps:life-sub' }));
  const event: EcpsEvent = { id: `c-${i}`, source: 'urn:ecps:life', type: 'ecps.ext.test', data: Uint8Array.of(i & 0xff) };
  for (let k = 0; k < 20; k++) await pub.publish('life/cycle', { ...event, id: `c-${i}-${k}` }, { qos: 1 });
  await waitFor(() => count === 20, 'the cycle\'s events', 10_000);
  await pub.request('Life.Echo', event, { timeoutMs: 10_000 });
  await pub.close();
  await sub.close();
}

describe('participant lifecycle', () => {
  (existsSync('/proc/self/task') ? it : it.skip)('many open/close cycles leave no thread and no handle behind', async () => {
    await cycle(-1); // first use starts what lives for the process (libuv's worker pool, Cyclone's global state)
    const threads = threadCount();
    const handles = resources();
    for (let i = 0; i < 15; i++) await cycle(i);
    // Cyclone joins a domain's threads when its last participant goes; give stragglers a moment, no more
    await waitFor(() => threadCount() <= threads, `thread count back to ${threads} (now ${threadCount()})`, 5_000);
    expect(threadCount()).toBe(threads);
    // the same moment for timers: one that is still due when close() returns (seen once under load) must expire, not stay
    const leftOver = () => Object.entries(resources()).filter(([kind, count]) => count > (handles[kind] ?? 0));
    await waitFor(() => leftOver().length === 0, 'no more handles than after the first cycle', 5_000).catch(() => undefined);
    const after = resources();
    for (const kind of Object.keys(after)) expect({ kind, count: after[kind] }).toEqual({ kind, count: Math.min(after[kind]!, handles[kind] ?? 0) });
  }, 60_000);

  it('a process that closed every transport ends on its own', async () => {
    const child = await startNodeScript(new URL('./support/open-close-child.ts', import.meta.url).pathname, [String(DOMAINS.lifecycleProcess), '10'], BINDING_ENV);
    try {
      await child.waitForLine((l) => l === 'done', 30_000);
      const code = await Promise.race([child.exited, new Promise<'alive'>((resolve) => setTimeout(() => resolve('alive'), 5_000).unref())]);
      expect(code).toBe(0);
    } finally {
      await child.stop();
    }
  }, 60_000);
});
