// SPDX-License-Identifier: Apache-2.0
// @ecps/sw4rm's IncomingStream against the real router: delivery acks, a handler failure left for redelivery,
// and reconnect + resume after the router restarts on the same store and port.
import { afterAll, describe, expect, it } from '@jest/globals';
import { waitFor } from '@ecps/testkit';
import { IncomingStream, createClient } from '@ecps/sw4rm';
import { Envelope } from '@ecps/sw4rm/proto';
import { startRouter } from '../src/index';
import { data, removeTmpDirs, tmpDb } from './helpers';

afterAll(removeTmpDirs);

describe('IncomingStream (resilient consumer)', () => {
  it('acks deliveries, leaves failures for redelivery and resumes after a router restart', async () => {
    const dbPath = tmpDb();
    let running = await startRouter({ dbPath, port: 0, drainGraceMs: 0 });
    const port = running.port;
    const router = createClient('router', `127.0.0.1:${port}`, { attempts: 1 });
    const seen: string[] = [];
    let failOnce = true;
    const stream = new IncomingStream({
      router,
      agentId: 'c',
      backoffInitialMs: 50,
      backoffMaxMs: 200,
      onEnvelope: (e) => {
        seen.push(e.messageId);
        if (failOnce) {
          failOnce = false;
          throw new Error('transient');
        }
      },
    }).start();
    try {
      await running.router.addKnownAgent('p');
      await waitFor(() => running.router.knownAgents().includes('c'), 'stream open');
      const m1 = data('p');
      await running.router.sendMessage(Envelope.encode(m1).finish());
      await waitFor(() => seen.length === 1, 'first delivery');
      expect(running.router.pendingFor('c')).toEqual([expect.objectContaining({ messageId: m1.messageId, state: 'IN_FLIGHT' })]);
      await running.stop(0);
      running = await startRouter({ dbPath, port, drainGraceMs: 0 });
      await waitFor(() => seen.length === 2, 'redelivery after reconnect', 10_000);
      expect(seen).toEqual([m1.messageId, m1.messageId]);
      await waitFor(() => running.router.pendingFor('c').length === 0, 'delivery acked');
      expect(stream.connections).toBeGreaterThanOrEqual(2);
    } finally {
      stream.stop();
      router.close();
      await running.stop(0);
    }
  }, 30_000);
});
