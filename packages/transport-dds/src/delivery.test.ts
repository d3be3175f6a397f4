import { describe, expect, it } from '@jest/globals';
import { silentLogger, type EcpsEvent, type Logger } from '@ecps/core';
import { Delivery } from './delivery';

const event = (id: string): EcpsEvent => ({ id, source: 'urn:ecps:t', type: 'ecps.ext.test', data: new Uint8Array(0) });
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Delivery', () => {
  it('hands an event that finds nothing waiting to a synchronous handler at once', () => {
    const seen: string[] = [];
    const d = new Delivery((e) => void seen.push(e.id), 8, silentLogger, 't');
    d.push(event('a'), 't');
    d.push(event('b'), 't');
    expect(seen).toEqual(['a', 'b']);
    expect(d.length).toBe(0);
  });

  it('queues behind a busy asynchronous handler, one event at a time, in order', async () => {
    const seen: string[] = [];
    let active = 0;
    let most = 0;
    const d = new Delivery(
      async (e) => {
        most = Math.max(most, ++active);
        await tick();
        seen.push(e.id);
        active--;
      },
      8,
      silentLogger,
      't',
    );
    for (const id of ['a', 'b', 'c']) d.push(event(id), 't');
    expect(d.length).toBe(2);
    while (seen.length < 3) await tick();
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(most).toBe(1);
    expect(d.peak).toBe(2);
  });

  it('makes an event pushed from inside the handler wait until the handler returns', async () => {
    const seen: string[] = [];
    const d: Delivery = new Delivery(
      (e) => {
        if (e.id === 'a') d.push(event('inner'), 't');
        seen.push(e.id);
      },
      8,
      silentLogger,
      't',
    );
    d.push(event('a'), 't');
    while (seen.length < 2) await tick();
    expect(seen).toEqual(['a', 'inner']);
  });

  it('reports a handler that throws or rejects and goes on with the next event', async () => {
    const warned: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void warned.push(message) };
    const seen: string[] = [];
    const d = new Delivery(
      (e) => {
        seen.push(e.id);
        if (e.id === 'a') throw new Error('sync');
        if (e.id === 'b') return Promise.reject(new Error('async'));
      },
      8,
      logger,
      't',
    );
    for (const id of ['a', 'b', 'c']) d.push(event(id), 't');
    while (seen.length < 3) await tick();
    await tick();
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(warned).toHaveLength(2);
  });
});
