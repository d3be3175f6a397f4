import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { vectorsDir } from '@ecps/testkit';
import { createHash } from 'node:crypto';
import { ManualClock, seededRandom, type EcpsEvent } from '@ecps/core';
import { EAP } from '@ecps/proto';
import {
  decodeEvent,
  encodeEvent,
  fromBinaryMode,
  fromStructured,
  toBinaryMode,
  toStructured,
  traceContextOf,
  formatTraceparent,
  parseTraceparent,
} from '../src/index';

const vectors = vectorsDir('ecps');
const setPose = EAP.decode(readFileSync(join(vectors, 'eap_set_pose.bin')));

const event = fc.record({
  id: fc.string({ minLength: 1 }),
  source: fc.string({ minLength: 1 }),
  type: fc.string({ minLength: 1 }),
  time: fc.option(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), { nil: undefined }),
  datacontenttype: fc.constantFrom('application/protobuf', 'application/json', undefined),
  extensions: fc.option(fc.dictionary(fc.stringMatching(/^(trace|corr)[a-z0-9]{0,8}$/), fc.string(), { minKeys: 1, maxKeys: 3 }), { nil: undefined }),
  data: fc.uint8Array({ maxLength: 128 }),
}).map((e) => JSON.parse(JSON.stringify(e, (_k, v) => (v === undefined ? undefined : v instanceof Uint8Array ? { __bytes: [...v] } : v)), (_k, v) => (v && v.__bytes ? Uint8Array.from(v.__bytes) : v)) as EcpsEvent);

describe('CloudEvents mapping', () => {
  it('uses the EAP id as the event id, the spec type and protobuf content', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const ev = encodeEvent('EAP', setPose, { source: 'urn:ecps:arm-1', clock, extensions: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    expect(ev).toMatchObject({
      id: 'test-eap-001',
      source: 'urn:ecps:arm-1',
      type: 'ecps.eap.action',
      time: '2026-01-01T00:00:00.000Z',
      datacontenttype: 'application/protobuf',
    });
    expect(decodeEvent('EAP', ev)).toEqual(setPose);
    expect(() => decodeEvent('MCP', ev)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });

  it('decodes by content type: a JSON-encoded event decodes to the same message', () => {
    const ev = encodeEvent('EAP', setPose, { source: 'urn:ecps:a', codec: 'json' });
    expect(ev.datacontenttype).toBe('application/json');
    expect(decodeEvent('EAP', ev)).toEqual(setPose);
  });

  it('gives messages without an id a UUID v4 event id', () => {
    const ev = encodeEvent('Ack', { success: true, message: 'ok' }, { source: 'urn:ecps:a', random: seededRandom(3) });
    expect(ev.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('round-trips any event through binary mode and structured mode', () => {
    fc.assert(fc.property(event, (e) => {
      expect(fromBinaryMode(toBinaryMode(e))).toEqual(e);
      const back = fromStructured(toStructured(e));
      expect(back).toEqual({ ...e, datacontenttype: e.datacontenttype ?? 'application/protobuf' });
    }));
  });

  it('puts attributes as properties without a ce- prefix', () => {
    const ev = encodeEvent('EAP', setPose, { source: 'urn:ecps:a', extensions: { correlationid: 'c1' } });
    const { properties, contentType } = toBinaryMode(ev);
    expect(contentType).toBe('application/protobuf');
    expect(properties).toMatchObject({ specversion: '1.0', id: 'test-eap-001', source: 'urn:ecps:a', type: 'ecps.eap.action', correlationid: 'c1' });
    expect(Object.keys(properties).some((k) => k.startsWith('ce-'))).toBe(false);
  });

  it('writes structured mode with data_base64 and top-level extensions', () => {
    const ev = encodeEvent('EAP', setPose, { source: 'urn:ecps:a', extensions: { correlationid: 'c1' } });
    const json = JSON.parse(new TextDecoder().decode(toStructured(ev)));
    expect(json).toMatchObject({ specversion: '1.0', datacontenttype: 'application/protobuf', correlationid: 'c1' });
    expect(Buffer.from(json.data_base64, 'base64')).toEqual(Buffer.from(readFileSync(join(vectors, 'eap_set_pose.bin'))));
  });

  it('rejects what is not a CloudEvent, including the reference SDK JSON payload', () => {
    const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
    for (const bad of [enc({ __type__: 'EAP', data: 'x' }), enc({ specversion: '0.3', id: 'a', source: 's', type: 't' }), enc({ specversion: '1.0', id: 'a', source: 's', type: 't', data_base64: 'not base64!' }), Uint8Array.of(0xff)]) {
      expect(() => fromStructured(bad)).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    }
    expect(() => fromBinaryMode({ properties: { id: 'x', source: 's', type: 't' }, data: new Uint8Array() })).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
  });
});

describe('trace context', () => {
  it('keeps a valid traceparent', () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(formatTraceparent(traceContextOf({ id: 'x', source: 's', type: 't', data: new Uint8Array(), extensions: { traceparent: tp } }))).toBe(tp);
    expect(parseTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeUndefined();
  });
  it('derives the trace id from a UUID id, else from SHA-256 of the id', () => {
    const uuid = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
    expect(traceContextOf({ id: uuid, source: 's', type: 't', data: new Uint8Array() }).traceId).toBe('3f2504e04f8941d39a0c0305e82c3301');
    // sha256("test-eap-001")[0:16]
    const t = traceContextOf({ id: 'test-eap-001', source: 's', type: 't', data: new Uint8Array() });
    expect(t.traceId).toHaveLength(32);
    expect(t.traceId).toBe(createHash('sha256').update('test-eap-001').digest('hex').slice(0, 32));
  });
});

describe('event time', () => {
  it('follows the clock to the millisecond, whichever clock asks', () => {
    const eap = EAP.fromPartial({ spec: 'eap/0.1', id: 'e1' });
    const a = new ManualClock(1_750_000_000_000);
    const b = new ManualClock(1_600_000_000_000);
    const timeOf = (clock: ManualClock) => encodeEvent('EAP', eap, { source: 'urn:ecps:n', clock }).time;
    expect(timeOf(a)).toBe('2025-06-15T15:06:40.000Z');
    expect(timeOf(a)).toBe('2025-06-15T15:06:40.000Z');
    expect(timeOf(b)).toBe('2020-09-13T12:26:40.000Z');
    a.advance(1);
    expect(timeOf(a)).toBe('2025-06-15T15:06:40.001Z');
    expect(encodeEvent('EAP', eap, { source: 'urn:ecps:n', clock: a, extensions: {} }).extensions).toBeUndefined();
    expect(encodeEvent('EAP', eap, { source: 'urn:ecps:n', clock: a, extensions: { k: 'v' } }).extensions).toEqual({ k: 'v' });
  });
});
