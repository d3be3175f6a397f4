// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import { SoftwareKeyProvider } from '@ecps/trust';
import { DataKeyCache } from './data-key-cache';

/** A software KEK whose wraps are counted (each stands for one KMS call) and can be held back. */
async function kek(): Promise<{ provider: SoftwareKeyProvider; wraps: () => number; hold: () => () => void }> {
  const provider = new SoftwareKeyProvider();
  await provider.generateKey('kek', 'aes-256-gcm');
  const wrap = provider.wrapKey.bind(provider);
  let count = 0;
  let gate: Promise<void> = Promise.resolve();
  provider.wrapKey = async (id, key) => {
    count++;
    await gate;
    return wrap(id, key);
  };
  return {
    provider,
    wraps: () => count,
    hold: () => {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return release;
    },
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('DataKeyCache', () => {
  it('fetches the next key in the background before the current one runs out, so take does not wait for it', async () => {
    const { provider, wraps, hold } = await kek();
    const cache = new DataKeyCache(provider, { kekId: 'kek', maxUses: 4, refreshAt: 0.5, clock: new ManualClock() });
    const first = await cache.take();
    await cache.take(); // 2 of 4: the successor is requested now
    expect(wraps()).toBe(2);
    await flush();
    const release = hold(); // the KMS stalls from here on
    await cache.take();
    await cache.take();
    const next = await cache.take(); // 5th use: served by the prefetched key without touching the stalled KMS
    expect(next.id).not.toBe(first.id);
    release();
    cache.close();
  });

  it('never uses a key past maxUses or maxAgeMs, even under concurrent takes', async () => {
    const { provider } = await kek();
    const clock = new ManualClock();
    const cache = new DataKeyCache(provider, { kekId: 'kek', maxUses: 3, maxAgeMs: 60_000, clock });
    const ids = (await Promise.all(Array.from({ length: 20 }, () => cache.take()))).map((k) => k.id);
    for (const id of new Set(ids)) expect(ids.filter((x) => x === id).length).toBeLessThanOrEqual(3);
    const before = (await cache.take()).id;
    clock.advance(60_001);
    expect((await cache.take()).id).not.toBe(before);
    cache.close();
  });

  it('an idle cache has a fresh key ready when the old one expires (timer prefetch)', async () => {
    const { provider, wraps, hold } = await kek();
    const clock = new ManualClock();
    const cache = new DataKeyCache(provider, { kekId: 'kek', maxAgeMs: 1000, clock });
    const first = await cache.take();
    clock.advance(800); // past refreshAt (0.75): the timer asks for the next key
    await flush();
    expect(wraps()).toBe(2);
    const release = hold();
    clock.advance(300);
    expect((await cache.take()).id).not.toBe(first.id);
    release();
    cache.close();
  });

  it('unwraps each wrapped key once while cached; failures are not cached; close refuses further use', async () => {
    const { provider } = await kek();
    const writer = new DataKeyCache(provider, { kekId: 'kek' });
    const key = await writer.take();
    let unwraps = 0;
    const unwrap = provider.unwrapKey.bind(provider);
    provider.unwrapKey = (id, wrapped) => {
      unwraps++;
      return unwrap(id, wrapped);
    };
    const reader = new DataKeyCache(provider, { kekId: 'kek' });
    expect(await reader.unwrap('kek', key.wrapped.wrapped)).toEqual(key.key);
    expect(await reader.unwrap('kek', key.wrapped.wrapped)).toEqual(key.key);
    expect(unwraps).toBe(1);
    const bad = new Uint8Array(key.wrapped.wrapped);
    bad[20] = (bad[20] as number) ^ 1;
    await expect(reader.unwrap('kek', bad)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    await expect(reader.unwrap('kek', bad)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    expect(unwraps).toBe(3);
    reader.close();
    writer.close();
    await expect(writer.take()).rejects.toMatchObject({ code: 'CLOSED' });
    expect(key.key.every((b) => b === 0)).toBe(true);
  });
});
