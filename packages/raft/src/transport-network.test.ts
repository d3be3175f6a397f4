// SPDX-License-Identifier: Apache-2.0
// A Raft message the transport refuses is never dropped silently: each failure is counted in
// `ecps.raft.messages.dropped` (direction `out`, the transport's error code, the message type) and logged as a
// warning, at most once per peer per 5 s so that a dead peer does not flood the log.
import { describe, expect, it } from '@jest/globals';
import type { Meter } from '@opentelemetry/api';
import type { Logger } from '@ecps/core';
import { MemoryBus, memoryTransport } from '@ecps/transport-memory';
import { transportNetwork } from './transport-network';
import type { Message } from './types';

const heartbeat = (to: string): Message => ({ type: 'heartbeat', from: 'n1', to, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 });

describe('transportNetwork send failures', () => {
  it('counts every refused message and warns once per peer per interval', async () => {
    const counted: Record<string, unknown>[] = [];
    const meter = { createCounter: () => ({ add: (_n: number, attributes: Record<string, unknown>) => counted.push(attributes) }) } as unknown as Meter;
    const warnings: Array<{ message: string; fields: Record<string, unknown> | undefined }> = [];
    const logger: Logger = { debug() {}, info() {}, error() {}, warn: (message, fields) => void warnings.push({ message, fields }) };
    let now = 0;
    const clock = { now: () => 1_700_000_000_000 + now, nowNs: () => 0n, monotonic: () => now, setTimeout: () => 0, clearTimeout() {} } as never;
    // a closed transport refuses every publish
    const transport = memoryTransport({ nodeId: 'n1', bus: new MemoryBus() });
    await transport.connect();
    await transport.close();
    const network = transportNetwork({ transport, clusterId: 'c', nodeId: 'n1', logger, meter, clock });

    network.send([heartbeat('n2'), heartbeat('n2'), heartbeat('n3')]);
    await new Promise((r) => setTimeout(r, 20));
    expect(counted).toHaveLength(3);
    for (const c of counted) expect(c).toMatchObject({ direction: 'out', type: 'heartbeat', reason: 'CLOSED' });
    expect(warnings.map((w) => w.fields?.['peer']).sort()).toEqual(['n2', 'n3']);
    expect(warnings[0]).toMatchObject({ message: 'raft message not sent', fields: { node: 'n1', type: 'heartbeat' } });

    now += 5_000; // the next interval: one more warning for n2
    network.send([heartbeat('n2')]);
    await new Promise((r) => setTimeout(r, 20));
    expect(counted).toHaveLength(4);
    expect(warnings.filter((w) => w.fields?.['peer'] === 'n2')).toHaveLength(2);
  });
});
