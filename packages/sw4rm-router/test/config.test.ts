// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from '@jest/globals';
import { routerConfigFromEnv } from '../src/index';

describe('routerConfigFromEnv', () => {
  it('reads every variable into its field, seconds as milliseconds, and leaves unset ones to the defaults', () => {
    expect(routerConfigFromEnv({})).toEqual({});
    expect(
      routerConfigFromEnv({
        SW4RM_ROUTER_DB: '/tmp/r',
        SW4RM_ROUTER_ID: 'r1',
        SW4RM_DELIVERY_LEASE_SECONDS: '2',
        SW4RM_ROUTER_MAX_QUEUE: '7',
        SW4RM_ROUTER_FULL_WAIT_MS: '0',
        SW4RM_ROUTER_MAX_HELD_SENDS: '5',
        SW4RM_ROUTER_MAX_HELD_BYTES: '4096',
        SW4RM_ROUTER_ACK_MODE: 'swallow',
        SW4RM_ROUTER_NACK_ON_FULL: 'off',
        SW4RM_DEDUP_WINDOW_SECONDS: '1.5',
        SW4RM_DELIVERY_MAX_ATTEMPTS: '3',
        SW4RM_DELIVERY_AUTO_RELEASE_AGENTS: ' a, b ,',
        SW4RM_MAX_PAYLOAD_BYTES: '1000',
        SW4RM_ROUTER_DRAIN_SECONDS: '4',
        SW4RM_ROUTER_MAX_IN_FLIGHT: '8',
        SW4RM_ROUTER_AGENT_RETENTION_SECONDS: '60',
        SW4RM_ROUTER_MAX_AGENTS: '9',
        SW4RM_ROUTER_MAX_FANOUT: '10',
        SW4RM_ROUTER_MAX_DEDUP_RECORDS: '11',
        SW4RM_ROUTER_MAX_QUEUE_UNRELATED: '99',
      }),
    ).toEqual({
      dbPath: '/tmp/r',
      routerId: 'r1',
      leaseMs: 2000,
      maxQueue: 7,
      fullWaitMs: 0,
      maxHeldSends: 5,
      maxHeldBytes: 4096,
      ackMode: 'swallow',
      nackOnFull: false,
      dedupWindowMs: 1500,
      maxDeliveryAttempts: 3,
      autoReleaseAgents: ['a', 'b'],
      maxPayloadBytes: 1000,
      drainGraceMs: 4000,
      maxInFlight: 8,
      agentRetentionMs: 60_000,
      maxKnownAgents: 9,
      maxFanout: 10,
      maxDedupRecords: 11,
    });
  });

  it('refuses a malformed or negative number and an unknown ack mode (CONFIG_INVALID)', () => {
    for (const env of [{ SW4RM_ROUTER_MAX_QUEUE: 'lots' }, { SW4RM_ROUTER_FULL_WAIT_MS: '-1' }, { SW4RM_ROUTER_ACK_MODE: 'drop' }]) {
      expect(() => routerConfigFromEnv(env)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    }
  });
});
