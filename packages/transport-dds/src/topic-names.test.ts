import { describe, expect, it } from '@jest/globals';
import { isEcpsError } from '@ecps/core';
import { TopicRegistry, ddsFilter, ddsNameMatches, ddsTopicName } from './topic-names';

describe('DDS topic names (spec §9)', () => {
  it.each([
    ['MemoryStore.Put/request', 'ecps/MemoryStore_Put/request'],
    ['mcp', 'ecps/mcp'],
    ['perception/sensor_data', 'ecps/perception/sensor_data'],
    ['ecps.ext.v1.Raft.Vote/reply', 'ecps/ecps_ext_v1_Raft_Vote/reply'],
    ['site-1/eap', 'ecps/site_1/eap'],
    ['a b/ü', 'ecps/a_b/_'],
  ])('%s -> %s', (topic, name) => expect(ddsTopicName(topic)).toBe(name));

  it('refuses a second ECPS topic that lands on the same DDS name', () => {
    const registry = new TopicRegistry();
    expect(registry.resolve('a.b/c')).toBe('ecps/a_b/c');
    expect(registry.resolve('a.b/c')).toBe('ecps/a_b/c');
    let caught: unknown;
    try {
      registry.resolve('a_b/c');
    } catch (error) {
      caught = error;
    }
    expect(isEcpsError(caught, 'INVALID_ARGUMENT')).toBe(true);
    expect(registry.ecpsTopic('ecps/a_b/c')).toBe('a.b/c');
    expect(registry.ecpsTopic('ecps/never/seen')).toBe('never/seen');
  });

  it('matches wildcard filters level by level on DDS names', () => {
    const f = ddsFilter('sensors.v1/+/temp');
    expect(f).toBe('sensors_v1/+/temp');
    expect(ddsNameMatches(f, ddsTopicName('sensors.v1/arm-1/temp'))).toBe(true);
    expect(ddsNameMatches(f, ddsTopicName('sensors.v1/arm/1/temp'))).toBe(false);
    expect(ddsNameMatches(ddsFilter('#'), 'ecps/anything/at/all')).toBe(true);
    expect(ddsNameMatches(ddsFilter('#'), 'DDSPerfRDataKS')).toBe(false);
  });

  it('refuses names too long for DDS', () => {
    expect(() => ddsTopicName('x'.repeat(300))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as unknown as Error);
  });
});
