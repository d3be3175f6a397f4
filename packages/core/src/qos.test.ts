import { describe, expect, it } from '@jest/globals';
import { getProfileQos, getQosForMessageType, validateTimingBudget, CONFORMANCE_PROFILES } from './index';

// Oracles of spec §8.
describe('QoS and conformance profiles', () => {
  it('validates timing budgets inclusively, as the spec checks them', () => {
    expect(validateTimingBudget(20.0, 'EAP')).toBe(true);
    expect(validateTimingBudget(20.01, 'EAP')).toBe(false);
    expect(validateTimingBudget(39, 'EAP', 'edge-lite')).toBe(true);
    expect(validateTimingBudget(16.5, 'EAP', 'cloud-fleet')).toBe(false);
  });

  it('rejects unknown types and profiles with a typed error', () => {
    expect(() => validateTimingBudget(1, 'UEP')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => validateTimingBudget(1, 'EAP', 'mainframe')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    // an unknown type errors before an unknown profile
    expect(() => getProfileQos('mainframe', 'UEP')).toThrow(/message type/);
  });

  const table: Array<[string, string, number, number, number]> = [
    ['MCP', 'edge-lite', 10000.0, 1000.0, 60.0],
    ['MCP', 'standard', 5000.0, 500.0, 30.0],
    ['MCP', 'cloud-fleet', 4000.0, 400.0, 24.0],
    ['LTP', 'edge-lite', 200.0, 20.0, 10.0],
    ['LTP', 'standard', 100.0, 10.0, 5.0],
    ['LTP', 'cloud-fleet', 80.0, 8.0, 4.0],
    ['MEP_PUT', 'edge-lite', 400.0, 100.0, 20.0],
    ['MEP_PUT', 'standard', 200.0, 50.0, 10.0],
    ['MEP_PUT', 'cloud-fleet', 160.0, 40.0, 8.0],
    ['MEP_QUERY', 'edge-lite', 2000.0, 100.0, 30.0],
    ['MEP_QUERY', 'standard', 1000.0, 50.0, 15.0],
    ['MEP_QUERY', 'cloud-fleet', 800.0, 40.0, 12.0],
    ['EAP', 'edge-lite', 40.0, 4.0, 2.0],
    ['EAP', 'standard', 20.0, 2.0, 1.0],
    ['EAP', 'cloud-fleet', 16.0, 1.6, 0.8],
  ];
  it.each(table)('%s under %s is %f / %f / %f (exact IEEE-754 products)', (type, profile, latency, jitter, timeout) => {
    const qos = getProfileQos(profile, type);
    expect(qos.maxLatencyMs).toBe(latency);
    expect(qos.maxJitterMs).toBe(jitter);
    expect(qos.timeoutS).toBe(timeout);
  });

  it('leaves retry_count and priority alone and never scales the grpc timeout key', () => {
    const qos = getProfileQos('cloud-fleet', 'EAP', 'grpc');
    expect(qos.retryCount).toBe(0);
    expect(qos.priority).toBe(10);
    expect(qos.transportSettings).toEqual({ transport: 'grpc', timeout: 30.0, retryPolicy: 'exponential_backoff' });
  });

  it('maps reliability levels onto each transport', () => {
    expect(getQosForMessageType('LTP', 'mqtt').transportSettings).toEqual({ transport: 'mqtt', qos: 0 });
    expect(getQosForMessageType('EAP', 'mqtt').transportSettings).toEqual({ transport: 'mqtt', qos: 1 });
    expect(getQosForMessageType('MCP').transportSettings).toEqual({
      transport: 'dds',
      reliability: 'RELIABLE',
      durability: 'TRANSIENT_LOCAL',
    });
    expect(getQosForMessageType('LTP', 'grpc').transportSettings).toEqual({ transport: 'grpc', timeout: 5.0 });
  });

  it('returns a copy, so callers cannot corrupt the defaults', () => {
    const qos = getQosForMessageType('EAP');
    qos.maxLatencyMs = 1;
    expect(getQosForMessageType('EAP').maxLatencyMs).toBe(20.0);
  });

  it('carries the profile table', () => {
    expect(CONFORMANCE_PROFILES['edge-lite'].maxMessageSizeBytes).toBe(65536);
    expect(CONFORMANCE_PROFILES.standard.maxMessageSizeBytes).toBe(1048576);
    expect(CONFORMANCE_PROFILES['cloud-fleet'].supportedTransports).toEqual(['dds', 'grpc', 'mqtt']);
  });
});
