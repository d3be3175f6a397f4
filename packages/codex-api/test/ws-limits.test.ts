// SPDX-License-Identifier: Apache-2.0
// The WebSocket limits that depend on time, driven by a manual clock: a socket is closed with 4401 when its access
// token expires mid-connection, and a principal may send at most 20 commands per 10 s, across all of its sockets.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '@ecps/core';
import { createHarness, PASSWORD, type Harness } from './harness';
import { CommandRateLimiter } from '../src/ws/command';
import { wsClient, type WsClient } from './ws-client';

const clock = new ManualClock(Date.now());
let h: Harness;
beforeAll(async () => {
  h = await createHarness({}, clock);
});
afterAll(async () => {
  await h?.close();
});

const wsUrl = (path: string) => h.url.replace('http', 'ws') + path;
/** A token issued now on the manual clock (the harness's own expire as the clock moves on). */
const tokenOf = async (role: 'operator' | 'viewer') => (await h.server.api.auth.login(role, PASSWORD, '127.0.0.1')).access_token;
const command = (role: 'operator' | 'viewer', token: string) => wsClient(wsUrl(`/ws/command/${h.ids[role]}?token=${token}`));
const closeAll = async (...clients: WsClient[]) => {
  for (const c of clients) c.socket.close();
  await Promise.all(clients.map((c) => c.closed));
};

describe('token expiry mid-connection', () => {
  it('closes both channels with 4401 when the access token expires, not before', async () => {
    const access_token = await tokenOf('viewer');
    const updates = wsClient(wsUrl(`/ws/updates?token=${access_token}`));
    const commands = command('viewer', access_token);
    await Promise.all([updates.opened, commands.opened]);
    await updates.next((m) => m.type === 'snapshot');
    const ttlMs = h.server.config.accessTokenTtlSec * 1000;

    clock.advance(ttlMs - 1000);
    commands.socket.send(JSON.stringify({ message: 'list bots' }));
    expect((await commands.next()).type).toBe('response'); // one second before expiry: still served
    expect(updates.socket.readyState).toBe(updates.socket.OPEN);

    clock.advance(1000);
    expect(await updates.closed).toEqual({ code: 4401, reason: 'token expired' });
    expect(await commands.closed).toEqual({ code: 4401, reason: 'token expired' });
    clock.advance(h.server.config.ws.commandWindowSec * 1000); // leave the rate-limit window clean for the next test
  });
});

describe('command rate limit', () => {
  it('refuses the 21st command in 10 s with rate_limited, also on another socket, and accepts again once the window passes', async () => {
    const token = await tokenOf('operator');
    const a = command('operator', token);
    const b = command('operator', token);
    await Promise.all([a.opened, b.opened]);
    for (let i = 0; i < 10; i++) {
      a.socket.send(JSON.stringify({ message: 'list bots' }));
      b.socket.send(JSON.stringify({ message: 'list bots' }));
    }
    for (let i = 0; i < 10; i++) {
      expect((await a.next()).type).toBe('response');
      expect((await b.next()).type).toBe('response');
    }
    const refused = { type: 'error', code: 'rate_limited', detail: 'at most 20 commands per 10 s' };
    a.socket.send(JSON.stringify({ message: 'list bots' }));
    expect(await a.next()).toEqual(refused);
    b.socket.send(JSON.stringify({ message: 'list bots' }));
    expect(await b.next()).toEqual(refused);
    // Another principal has its own budget.
    const viewer = command('viewer', await tokenOf('viewer'));
    await viewer.opened;
    viewer.socket.send(JSON.stringify({ message: 'list bots' }));
    expect((await viewer.next()).type).toBe('response');

    clock.advance(9_999);
    a.socket.send(JSON.stringify({ message: 'list bots' }));
    expect(await a.next()).toEqual(refused);
    clock.advance(1);
    a.socket.send(JSON.stringify({ message: 'list bots' }));
    expect(await a.next()).toMatchObject({ type: 'response', actions: [{ intent: 'list_bots', status: 'executed' }] });
    await closeAll(a, b, viewer);
  });
});

describe('CommandRateLimiter', () => {
  it('remembers at most maxPrincipals principals, forgetting idle ones first', () => {
    const manual = new ManualClock();
    const limiter = new CommandRateLimiter(2, 10, manual, 3);
    const recent = (limiter as unknown as { recent: Map<string, number[]> }).recent;
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, false]);
    manual.advance(10_000);
    limiter.take('b');
    limiter.take('c');
    limiter.take('d'); // a is idle: it goes, the active ones stay
    expect([...recent.keys()]).toEqual(['b', 'c', 'd']);
    limiter.take('e'); // all active: the least recently active goes
    expect([...recent.keys()]).toEqual(['c', 'd', 'e']);
  });
});
