import { describe, expect, it } from '@jest/globals';
import { isEcpsError, type EcpsEvent } from '@ecps/core';
import { startTcpProxy, testEvent, waitFor } from '@ecps/testkit';
import { grpcBusServer, grpcTransport } from '../src/index';

describe('grpc transport: connection loss and recovery', () => {
  it('resubscribes and continues after the server restarts on the same port, resending unacknowledged RELIABLE events', async () => {
    let server = await grpcBusServer();
    const port = server.port;
    const fast = { reconnectDelayMs: { initial: 20, max: 200 } };
    const a = grpcTransport({ target: server.address, nodeId: 'a', ...fast });
    const b = grpcTransport({ target: server.address, nodeId: 'b', ...fast });
    try {
      await a.connect();
      await b.connect();
      const seen: EcpsEvent[] = [];
      const replies: string[] = [];
      const own: EcpsEvent[] = [];
      await b.subscribe('fleet/+/state', (e) => void seen.push(e));
      // a node's own subscriptions are restored before its unacknowledged events are resent, so this one
      // deterministically sees the event it published while offline
      await a.subscribe('fleet/leg/state', (e) => void own.push(e));
      await b.serve('Probe.Ping', (req) => ({ ...req, type: 'ecps.ext.test.pong' }));
      await a.publish('fleet/arm/state', testEvent('urn:ecps:a'));
      await waitFor(() => seen.length === 1, 'delivery before the restart');

      await server.close(100);
      await waitFor(() => !a.connected && !b.connected, 'both nodes to notice the drop');
      // accepted while offline: kept and resent once the router is back
      const offline = a.publish('fleet/leg/state', testEvent('urn:ecps:a'), { qos: 1 });
      // best effort while offline: dropped and counted
      await a.publish('fleet/leg/state', testEvent('urn:ecps:a'), { qos: 0 });
      expect(a.stats.dropped).toBe(1);

      server = await grpcBusServer({ port });
      await waitFor(() => a.connected && b.connected, 'both nodes to reconnect', 10_000);
      await offline;
      await waitFor(() => own.length === 1, 'the event published while offline');
      expect(own[0]!.source).toBe('urn:ecps:a');
      // the router keeps nothing for disconnected nodes: b sees the offline event only if it was back first
      const before = seen.length;
      await a.publish('fleet/arm/state', testEvent('urn:ecps:a'));
      await waitFor(() => seen.length === before + 1, 'delivery after the restart');
      // services are subscriptions too: they are restored as well
      const reply = await a.request('Probe.Ping', testEvent('urn:ecps:a'), { timeoutMs: 5000 });
      replies.push(reply.type);
      expect(replies).toEqual(['ecps.ext.test.pong']);
      expect(a.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(b.stats.reconnects).toBeGreaterThanOrEqual(1);
    } finally {
      await a.close();
      await b.close();
      await server.close();
    }
  });

  it('detects a silently dropped (half-open) connection with keepalive and recovers on a new one', async () => {
    const server = await grpcBusServer();
    const proxy = await startTcpProxy(server.port);
    const a = grpcTransport({
      target: `127.0.0.1:${proxy.port}`,
      nodeId: 'a',
      keepaliveTimeMs: 300,
      keepaliveTimeoutMs: 300,
      reconnectDelayMs: { initial: 20, max: 200 },
    });
    const b = grpcTransport({ target: server.address, nodeId: 'b' });
    try {
      await a.connect();
      await b.connect();
      const seen: EcpsEvent[] = [];
      await a.subscribe('link/check', (e) => void seen.push(e));
      await b.publish('link/check', testEvent('urn:ecps:b'));
      await waitFor(() => seen.length === 1, 'delivery over the healthy link');
      proxy.blackholeExisting(); // no FIN, no RST: only an unanswered ping reveals it
      await waitFor(() => !a.connected, 'keepalive to declare the link dead', 10_000);
      await waitFor(() => a.connected, 'a new connection', 10_000);
      await b.publish('link/check', testEvent('urn:ecps:b'));
      await waitFor(() => seen.length === 2, 'delivery after recovery');
    } finally {
      await a.close();
      await b.close();
      await proxy.close();
      await server.close();
    }
  });

  it('fails connect() with UNAVAILABLE when no router answers, and RELIABLE publishes with TIMEOUT after ackTimeoutMs', async () => {
    const probe = await grpcBusServer();
    const address = probe.address;
    await probe.close();
    const t = grpcTransport({ target: address, nodeId: 'lonely', connectTimeoutMs: 300, ackTimeoutMs: 300 });
    try {
      let caught: unknown;
      await t.connect().catch((e: unknown) => (caught = e));
      expect(isEcpsError(caught, 'UNAVAILABLE')).toBe(true);
      caught = undefined;
      await t.publish('x', testEvent('urn:ecps:lonely')).catch((e: unknown) => (caught = e));
      expect(isEcpsError(caught, 'TIMEOUT')).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('bounds the RELIABLE events waiting for a connection with QUEUE_FULL', async () => {
    const probe = await grpcBusServer();
    const address = probe.address;
    await probe.close();
    const t = grpcTransport({ target: address, nodeId: 'lonely', maxInFlight: 3, ackTimeoutMs: 10_000 });
    const waiting = [1, 2, 3].map(() => t.publish('x', testEvent('urn:ecps:lonely')));
    let caught: unknown;
    await t.publish('x', testEvent('urn:ecps:lonely')).catch((e: unknown) => (caught = e));
    expect(isEcpsError(caught, 'QUEUE_FULL')).toBe(true);
    await t.close();
    const results = await Promise.allSettled(waiting);
    expect(results.map((r) => r.status === 'rejected' && isEcpsError(r.reason, 'CLOSED'))).toEqual([true, true, true]);
  });
});

describe('grpc transport: PERSISTENT de-duplication', () => {
  it('delivers a repeated PERSISTENT event once and a repeated RELIABLE one twice', async () => {
    const server = await grpcBusServer();
    const a = grpcTransport({ target: server.address, nodeId: 'a' });
    const b = grpcTransport({ target: server.address, nodeId: 'b', dedupeWindow: 2 });
    try {
      const persistent: string[] = [];
      const reliable: string[] = [];
      await b.subscribe('p', (e) => void persistent.push(e.id), { qos: 2 });
      await b.subscribe('r', (e) => void reliable.push(e.id), { qos: 2 });
      const e1 = testEvent('urn:ecps:a');
      const e2 = testEvent('urn:ecps:a');
      const e3 = testEvent('urn:ecps:a');
      // a resend after a drop looks exactly like this: the same event published again
      for (const e of [e1, e1, e2, e1, e3, e1]) await a.publish('p', e, { qos: 2 });
      await a.publish('r', e1, { qos: 1 });
      await a.publish('r', e1, { qos: 1 });
      await waitFor(() => reliable.length === 2, 'both reliable copies');
      await waitFor(() => persistent.length >= 4, 'persistent deliveries');
      // window of 2: e1 was forgotten after e2 and e3 arrived, so its last copy is delivered again
      expect(persistent).toEqual([e1.id, e2.id, e3.id, e1.id]);
      expect(b.stats.duplicates).toBe(2);
    } finally {
      await a.close();
      await b.close();
      await server.close();
    }
  });
});
