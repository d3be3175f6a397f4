import { describe, expect, it } from '@jest/globals';
import {
  EVENT_TYPES,
  PubSubRpc,
  correlationOf,
  fixedRpcTopics,
  isEcpsError,
  perCorrelationRpcTopics,
  topicMatches,
  type EcpsEvent,
  type EventHandler,
  type PubSub,
  type RpcTopicScheme,
} from './index';

/** A synchronous in-process bus that records every subscribe and publish, so the topics a scheme uses are visible. */
function recordingBus() {
  const subs = new Set<{ filter: string; handler: EventHandler }>();
  const published: string[] = [];
  const subscribed: string[] = [];
  const bus: PubSub = {
    async publish(topic, event) {
      published.push(topic);
      for (const s of [...subs]) if (topicMatches(s.filter, topic)) queueMicrotask(() => void s.handler(event, topic));
    },
    async subscribe(filter, handler) {
      subscribed.push(filter);
      const entry = { filter, handler };
      subs.add(entry);
      return { filter, unsubscribe: async () => void subs.delete(entry) };
    },
  };
  return { bus, published, subscribed, live: () => [...subs].map((s) => s.filter) };
}

const event = (data: number[], type = 'ecps.ext.test'): EcpsEvent => ({ id: `e-${data.join('.')}`, source: 'urn:ecps:t', type, data: Uint8Array.from(data) });

function pair(scheme: RpcTopicScheme) {
  const rec = recordingBus();
  const client = new PubSubRpc(rec.bus, { source: 'urn:ecps:client', topics: scheme, defaultTimeoutMs: 2000 });
  const server = new PubSubRpc(rec.bus, { source: 'urn:ecps:server', topics: scheme });
  return { rec, client, server };
}

describe('PubSubRpc with the fixed DDS topics of spec §9', () => {
  it('uses {service}/request and {service}/reply and keeps one reply subscription per service', async () => {
    const { rec, client, server } = pair(fixedRpcTopics);
    await server.serve('Svc.Echo', async (req) => event([...req.data, 9], 'ecps.ext.test.reply'));
    const replies = await Promise.all([1, 2, 3, 4, 5].map((i) => client.request('Svc.Echo', event([i]))));
    expect(replies.map((r) => [...r.data])).toEqual([[1, 9], [2, 9], [3, 9], [4, 9], [5, 9]]);
    expect(new Set(rec.published)).toEqual(new Set(['Svc.Echo/request', 'Svc.Echo/reply']));
    expect(rec.subscribed.filter((t) => t === 'Svc.Echo/reply')).toHaveLength(1);
    await client.request('Svc.Echo', event([6]));
    expect(rec.subscribed.filter((t) => t === 'Svc.Echo/reply')).toHaveLength(1);
    client.close();
    server.close();
  });

  it('hands each reply to the call it correlates to, ignoring others on the same topic', async () => {
    const { rec, client } = pair(fixedRpcTopics);
    // a server that answers the second request first, plus a stray reply for a correlation nobody waits for
    const pending: EcpsEvent[] = [];
    await rec.bus.subscribe('Svc.Slow/request', (req) => {
      pending.push(req);
      if (pending.length < 2) return;
      const [first, second] = pending as [EcpsEvent, EcpsEvent];
      const reply = (to: EcpsEvent, data: number) => ({ ...event([data]), extensions: { correlationid: correlationOf(to)! } });
      void rec.bus.publish('Svc.Slow/reply', { ...event([0]), extensions: { correlationid: 'nobody' } });
      void rec.bus.publish('Svc.Slow/reply', reply(second, 2));
      void rec.bus.publish('Svc.Slow/reply', reply(first, 1));
    });
    const [a, b] = await Promise.all([client.request('Svc.Slow', event([1])), client.request('Svc.Slow', event([2]))]);
    expect([a.data[0], b.data[0]]).toEqual([1, 2]);
    client.close();
  });

  it('streams on {service}/stream, ends explicitly, and cancels through the request topic', async () => {
    const { rec, client, server } = pair(fixedRpcTopics);
    let aborted = false;
    await server.serveStream('Svc.Count', async function* (req, signal) {
      for (let i = 0; i < req.data[0]! && !signal.aborted; i++) {
        yield event([i]);
        await new Promise((r) => setTimeout(r, 1));
      }
      if (signal.aborted) aborted = true;
    });
    const got: number[] = [];
    for await (const e of client.requestStream('Svc.Count', event([5]))) got.push(e.data[0]!);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    for await (const _ of client.requestStream('Svc.Count', event([200]))) break;
    await new Promise((r) => setTimeout(r, 50));
    expect(aborted).toBe(true);
    expect(new Set(rec.published)).toEqual(new Set(['Svc.Count/request', 'Svc.Count/stream']));
    expect(rec.subscribed.filter((t) => t === 'Svc.Count/stream')).toHaveLength(1);
    client.close();
    server.close();
  });

  it('reports an error end to the right call and fails pending calls with CLOSED on close', async () => {
    const { client, server } = pair(fixedRpcTopics);
    await server.serve('Svc.Fail', () => {
      throw new Error('no such tensor');
    });
    const failed = await client.request('Svc.Fail', event([1])).catch((e: unknown) => e);
    expect(isEcpsError(failed, 'REMOTE_ERROR')).toBe(true);
    const pending = client.request('Nobody.Home', event([1]), { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 5));
    client.close();
    expect(isEcpsError(await pending.catch((e: unknown) => e), 'CLOSED')).toBe(true);
    server.close();
  });

  it('says which correlations its calls wait for', async () => {
    const { rec, client } = pair(fixedRpcTopics);
    let seen: string | undefined;
    await rec.bus.subscribe('Svc.Hold/request', (req) => {
      seen = correlationOf(req);
      expect(client.awaits(seen)).toBe(true);
      void rec.bus.publish('Svc.Hold/reply', { ...event([1]), extensions: { correlationid: seen! } });
    });
    await client.request('Svc.Hold', event([1]));
    expect(seen).toBeDefined();
    expect(client.awaits(seen)).toBe(false);
    expect(client.awaits(undefined)).toBe(false);
    client.close();
  });

  it('gives up its kept subscriptions on close', async () => {
    const { rec, client, server } = pair(fixedRpcTopics);
    await server.serve('Svc.Echo', (req) => req);
    await client.request('Svc.Echo', event([1]));
    expect(rec.live()).toContain('Svc.Echo/reply');
    client.close();
    await new Promise((r) => setTimeout(r, 5));
    expect(rec.live()).not.toContain('Svc.Echo/reply');
    server.close();
  });
});

describe('PubSubRpc with the per-correlation topics (default)', () => {
  it('replies on response/{correlation} and removes the subscription after the call', async () => {
    const { rec, client, server } = pair(perCorrelationRpcTopics);
    await server.serve('Svc.Echo', (req) => req);
    const reply = await client.request('Svc.Echo', event([7]));
    const replyTopic = rec.published.find((t) => t.startsWith('response/'))!;
    expect(replyTopic).toBe(`response/${correlationOf(reply)}`);
    expect(rec.live()).toEqual(['Svc.Echo/request']);
    expect(reply.type).not.toBe(EVENT_TYPES.streamEnd);
    client.close();
    server.close();
  });
});
