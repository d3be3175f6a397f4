// SPDX-License-Identifier: Apache-2.0
// The WebSocket channels over real sockets (checklist 24, 25): authentication and Origin at the upgrade, the snapshot,
// ordered events, the slow-consumer close, the §6.2 decision table through /ws/command, and audio through the mock STT.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net, { type Socket } from 'node:net';
import WebSocket from 'ws';
import { createHarness, eventually, LOOP_BOT, type Harness } from './harness';
import { isLoopbackHost } from './loopback-only';
import { refusedWith, wsClient, type WsClient } from './ws-client';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ STT_PROVIDER: 'mock', STT_MOCK_TEXT: 'which bots are running' });
  h.writeBot('alpha/main.js', LOOP_BOT);
  for (const [id, name] of [['alpha-1', 'Alpha One'], ['alpha-2', 'Alpha Two'], ['collector', 'Web Collector']]) {
    const r = await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id, name, blueprint: 'alpha/main.js', deployment_config: { interpreter: 'node' } } });
    expect(r.status).toBe(201);
  }
});
afterAll(async () => {
  await h?.close();
});

const wsUrl = (path: string) => h.url.replace('http', 'ws') + path;

const client = (path: string, headers: Record<string, string> = {}) => wsClient(wsUrl(path), headers);

describe('/ws/updates (checklist 24)', () => {
  it('refuses no token, a bad token and a foreign Origin at the upgrade', async () => {
    expect(await refusedWith(wsUrl('/ws/updates'))).toBe(401);
    expect(await refusedWith(wsUrl('/ws/updates?token=not-a-jwt'))).toBe(401);
    expect(await refusedWith(wsUrl(`/ws/updates?token=${h.tokens.viewer}`), { origin: 'https://evil.example' })).toBe(403);
  });

  it('sends a snapshot, then bot.created, bot.status and incident events in seq order', async () => {
    const c = client(`/ws/updates?token=${h.tokens.user}`, { origin: h.url });
    await c.opened;
    const snapshot = await c.next();
    expect(snapshot.type).toBe('snapshot');
    expect(snapshot.data.bots.map((b: { id: string }) => b.id).sort()).toEqual(['alpha-1', 'alpha-2', 'collector']);
    await h.call('POST', '/api/v1/bots', { token: h.tokens.admin, body: { id: 'missing', name: 'Missing', blueprint: 'nope/main.js', deployment_config: { interpreter: 'node' } } });
    expect((await c.next((m) => m.type === 'bot.created')).data.bot.id).toBe('missing');
    await h.call('POST', '/api/v1/bots/missing/start', { token: h.tokens.admin });
    expect((await c.next((m) => m.type === 'bot.status' && m.data.bot_id === 'missing' && m.data.to === 'failed')).data.from).toBe('deploying');
    await h.call('POST', '/api/v1/bots/alpha-2/start', { token: h.tokens.admin });
    await c.next((m) => m.type === 'bot.status' && m.data.bot_id === 'alpha-2' && m.data.to === 'running');
    await h.call('POST', '/api/v1/bots/alpha-2/stop', { token: h.tokens.admin });
    await c.next((m) => m.type === 'incident' || (m.type === 'bot.status' && m.data.to === 'stopped'));
    await h.call('DELETE', '/api/v1/bots/missing', { token: h.tokens.admin });
    await c.next((m) => m.type === 'bot.deleted' && m.data.bot_id === 'missing');
    const seqs = c.messages.map((m) => m.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
    c.socket.send(JSON.stringify({ type: 'ping' }));
    await c.next((m) => m.type === 'pong');
    c.socket.close();
    await c.closed;
  });

  it('sends a heartbeat about every 5 s', async () => {
    const c = client(`/ws/updates?token=${h.tokens.viewer}`);
    await c.opened;
    const beat = await c.next((m) => m.type === 'heartbeat');
    expect(beat.ts).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    c.socket.close();
    await c.closed;
  }, 15_000);

  it('closes a consumer that stops reading with 1013 instead of buffering without bound', async () => {
    const c = client(`/ws/updates?token=${h.tokens.operator}`);
    await c.opened;
    await c.next((m) => m.type === 'snapshot');
    const raw = (c.socket as unknown as { _socket: Socket })._socket;
    raw.pause(); // the client stops reading: the kernel buffers fill, then the server's send buffer grows
    const bot = (await h.call('GET', '/api/v1/bots/alpha-1', { token: h.tokens.admin })).body;
    const big = { ...bot, description: 'x'.repeat(500_000) };
    for (let i = 0; i < 40; i++) h.server.registry.events.publish('bot.updated', { bot: big });
    raw.resume();
    expect((await c.closed).code).toBe(1013);
  });

  it('limits a principal to 5 concurrent connections', async () => {
    const open = [];
    for (let i = 0; i < 5; i++) {
      const c = client(`/ws/updates?token=${h.tokens.viewer}`);
      await c.opened;
      open.push(c);
    }
    const sixth = client(`/ws/updates?token=${h.tokens.viewer}`);
    expect((await sixth.closed).code).toBe(4429);
    for (const c of open) c.socket.close();
    await Promise.all(open.map((c) => c.closed));
  });
});

describe('/ws/command/{user} (checklist 25)', () => {
  it('closes without a token (4401) or for another user (4403)', async () => {
    const anonymous = client(`/ws/command/${h.ids.operator}`);
    expect((await anonymous.closed).code).toBe(4401);
    const other = client(`/ws/command/${h.ids.admin}?token=${h.tokens.operator}`);
    expect((await other.closed).code).toBe(4403);
  });

  const say = async (c: WsClient, message: string) => {
    c.socket.send(JSON.stringify({ message, session_id: 's1' }));
    return c.next((m) => m.type === 'response' || m.type === 'error');
  };

  it('answers every row of the §6.2 table with its decision', async () => {
    const op = client(`/ws/command/${h.ids.operator}?token=${h.tokens.operator}`);
    await op.opened;
    let r = await say(op, 'start bot alpha-1');
    expect(r.actions).toEqual([expect.objectContaining({ intent: 'start_bot', bot_id: 'alpha-1', status: 'executed' })]);
    expect(r.details.parsed.confidence).toBe(1);
    await eventually(async () => ((await h.call('GET', '/api/v1/bots/alpha-1', { token: h.tokens.admin })).body.status === 'running' ? true : undefined));

    r = await say(op, 'Stop the Web Collector please');
    expect(r.actions[0]).toMatchObject({ intent: 'stop_bot', bot_id: 'collector', status: 'executed' });
    expect(r.details.parsed.confidence).toBe(0.95);

    r = await say(op, 'status of alpha');
    expect(r.actions[0]).toMatchObject({ intent: 'bot_status', status: 'needs_clarification' });
    expect(r.response).toBe('I found several bots matching "alpha": alpha-1, alpha-2. Which one?');
    r = await say(op, '2');
    expect(r.actions[0]).toMatchObject({ intent: 'bot_status', bot_id: 'alpha-2', status: 'executed' });

    r = await say(op, 'list bots');
    expect(r.actions[0]).toMatchObject({ intent: 'list_bots', status: 'executed' });
    r = await say(op, 'which bots are running?');
    expect(r.actions[0]).toMatchObject({ intent: 'list_bots', status: 'executed', result: { bots: [{ id: 'alpha-1', status: 'running' }] } });
    expect(r.details.parsed.entities.status_filter).toBe('running');

    r = await say(op, 'start colector');
    expect(r.actions[0]).toMatchObject({ intent: 'start_bot', bot_id: 'collector', status: 'needs_confirmation' });
    expect(r.details.parsed.confidence).toBe(0.6);
    expect(r.response).toBe('Did you mean to start bot "collector"? Reply yes or no.');
    r = await say(op, 'no');
    expect(r.response).toBe('Cancelled.');

    r = await say(op, 'send an email to the team');
    expect(r.actions).toEqual([]);
    expect(r.details.parsed).toMatchObject({ intent: 'unknown', confidence: 0 });
    expect(r.response).toMatch(/^Sorry, I didn't understand/);

    r = await say(op, 'status of alpha-1');
    r = await say(op, 'stop it');
    expect(r.actions[0]).toMatchObject({ intent: 'stop_bot', bot_id: 'alpha-1', status: 'executed' });
    expect(r.details.parsed.confidence).toBe(0.9);

    r = await say(op, 'create a collector bot named News Feed');
    expect(r.actions[0]).toMatchObject({ intent: 'create_bot', status: 'denied' }); // an operator lacks bot:create
    op.socket.close();
    await op.closed;

    const admin = client(`/ws/command/${h.ids.admin}?token=${h.tokens.admin}`);
    await admin.opened;
    r = await say(admin, 'create a collector bot named News Feed');
    expect(r.actions[0]).toMatchObject({ intent: 'create_bot', status: 'executed' });
    expect(r.details.parsed.entities).toMatchObject({ role: 'collector', name: 'News Feed', id: 'news-feed' });
    expect((await h.call('GET', '/api/v1/bots/news-feed', { token: h.tokens.admin })).body).toMatchObject({ name: 'News Feed', role: 'collector', blueprint: 'news-feed/main.py' });
    admin.socket.close();
    await admin.closed;

    const viewer = client(`/ws/command/${h.ids.viewer}?token=${h.tokens.viewer}`);
    await viewer.opened;
    r = await say(viewer, 'restart alpha-2');
    expect(r.actions[0]).toMatchObject({ intent: 'restart_bot', bot_id: 'alpha-2', status: 'denied' });
    expect(r.details.parsed.confidence).toBe(1);
    viewer.socket.close();
    await viewer.closed;
  });

  it('no test opens a non-loopback socket: the guard every test file runs under refuses one', async () => {
    expect(() => net.connect(80, '192.0.2.1')).toThrow('a test tried to open a non-loopback socket to 192.0.2.1');
    const refused = await new Promise<Error>((resolve) => new WebSocket('ws://example.invalid/ws/updates').once('error', resolve));
    expect(refused.message).toBe('a test tried to open a non-loopback socket to example.invalid');
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::ffff:127.0.0.2]']) expect(isLoopbackHost(host)).toBe(true);
    expect(isLoopbackHost('10.0.0.1')).toBe(false);
  });

  it('audio goes through speech-to-text first: a transcript, then the response', async () => {
    const c = client(`/ws/command/${h.ids.viewer}?token=${h.tokens.viewer}`);
    await c.opened;
    c.socket.send(Buffer.alloc(3200), { binary: true });
    c.socket.send(JSON.stringify({ type: 'audio_end' }));
    expect(await c.next()).toEqual({ type: 'transcript', text: 'which bots are running', confidence: 1 });
    const r = await c.next();
    expect(r.actions[0]).toMatchObject({ intent: 'list_bots', status: 'executed' });
    c.socket.send(Buffer.alloc(960_002), { binary: true });
    c.socket.send(JSON.stringify({ type: 'audio_end' }));
    expect((await c.next()).code).toBe('audio_too_long');
    c.socket.close();
    await c.closed;
  });
});
