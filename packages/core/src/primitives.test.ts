import { afterAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  topicMatches,
  assertTopicFilter,
  uuidv4,
  isUuid,
  seededRandom,
  ManualClock,
  EcpsError,
  TransportError,
  isEcpsError,
  encodeAck,
  decodeAck,
  resolveConfig,
  nodeSource,
  nodeIdFromSource,
  fromHex,
  toHex,
  concatBytes,
  varintSize,
  writeVarint,
  AsyncQueue,
} from './index';

function writeVarintBytes(n: number): Uint8Array {
  const out = new Uint8Array(10);
  return out.subarray(0, writeVarint(out, 0, n));
}

describe('topic filters', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'anything/at/all', true],
    ['+/+', 'a/b', true],
    ['+', 'a/b', false],
    ['a/+/c', 'a/x/c', true],
    ['a/b', 'a/b/c', false],
  ])('%s matches %s: %s', (filter, topic, expected) => expect(topicMatches(filter, topic)).toBe(expected));

  it('rejects malformed filters', () => {
    for (const f of ['a/#/b', 'a+', 'a/b#', '']) expect(() => assertTopicFilter(f)).toThrow();
  });

  it('a filter equal to a topic always matches it', () => {
    fc.assert(fc.property(fc.array(fc.stringMatching(/^[a-z0-9_]{1,5}$/), { minLength: 1, maxLength: 5 }), (levels) => {
      const topic = levels.join('/');
      return topicMatches(topic, topic) && topicMatches('#', topic);
    }));
  });
});

describe('ids and randomness', () => {
  it('makes v4 UUIDs', () => {
    const id = uuidv4();
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe('4');
    expect(['8', '9', 'a', 'b']).toContain(id[19]);
  });
  it('seeded sources repeat exactly and differ across seeds', () => {
    expect(seededRandom(7).bytes(16)).toEqual(seededRandom(7).bytes(16));
    expect(seededRandom(7).bytes(16)).not.toEqual(seededRandom(8).bytes(16));
    expect(uuidv4(seededRandom(1))).toBe(uuidv4(seededRandom(1)));
  });
  it('maps node ids to CloudEvents sources and back', () => {
    expect(nodeSource('arm-1')).toBe('urn:ecps:arm-1');
    expect(nodeIdFromSource('urn:ecps:arm-1')).toBe('arm-1');
    expect(nodeIdFromSource('https://x')).toBeUndefined();
    expect(() => nodeSource('bad id')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
  it('round-trips hex', () => {
    fc.assert(fc.property(fc.uint8Array(), (b) => expect(fromHex(toHex(b))).toEqual(b)));
    expect(() => fromHex('abc')).toThrow();
  });
  it('writes protobuf varints up to 2^53 and sizes them', () => {
    expect([...writeVarintBytes(300)]).toEqual([0xac, 0x02]);
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const bytes = writeVarintBytes(n);
        expect(bytes.length).toBe(varintSize(n));
        let value = 0;
        for (let i = bytes.length - 1; i >= 0; i--) value = value * 128 + (bytes[i]! & 0x7f);
        expect(value).toBe(n);
      }),
    );
  });
  it('concatenates byte arrays in order, with or without a known total', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array()), (parts) => {
        const expected = Uint8Array.from(parts.flatMap((p) => [...p]));
        expect(concatBytes(parts)).toEqual(expected);
        expect(concatBytes(parts, expected.length)).toEqual(expected);
      }),
    );
  });
});

describe('ManualClock', () => {
  it('fires timers in order, including ones scheduled while advancing', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push('a@10');
      clock.setTimeout(() => fired.push('c@15'), 5);
    }, 10);
    clock.setTimeout(() => fired.push('b@12'), 12);
    const cancelled = clock.setTimeout(() => fired.push('never'), 11);
    clock.clearTimeout(cancelled);
    clock.advance(20);
    expect(fired).toEqual(['a@10', 'b@12', 'c@15']);
    expect(clock.now()).toBe(20);
  });
});

describe('errors', () => {
  it('are recognised by name and code, also across copies', () => {
    const e = new TransportError('TIMEOUT', 'slow');
    expect(isEcpsError(e)).toBe(true);
    expect(isEcpsError(e, 'TIMEOUT')).toBe(true);
    expect(isEcpsError(e, 'CLOSED')).toBe(false);
    expect(isEcpsError({ name: 'EcpsError', code: 'TIMEOUT', message: 'from another copy' })).toBe(true);
    expect(isEcpsError({ name: 'EcpsError', code: 'MADE_UP' })).toBe(false);
    expect(isEcpsError(new Error('x'))).toBe(false);
    expect(new EcpsError('INTERNAL', 'x', { cause: e }).cause).toBe(e);
  });
});

describe('Ack codec', () => {
  it('round-trips and matches protobuf bytes', () => {
    expect(encodeAck({ success: true, message: 'ok' })).toEqual(Uint8Array.of(0x08, 0x01, 0x12, 0x02, 0x6f, 0x6b));
    expect(encodeAck({ success: false, message: '' })).toEqual(new Uint8Array());
    fc.assert(fc.property(fc.boolean(), fc.string(), (success, message) => {
      expect(decodeAck(encodeAck({ success, message }))).toEqual({ success, message });
    }));
  });
  it('throws DECODE_ERROR on garbage, never hangs', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeAck(bytes);
      } catch (e) {
        expect(isEcpsError(e, 'DECODE_ERROR')).toBe(true);
      }
    }));
  });
});

describe('configuration precedence', () => {
  const defaults = { nodeId: 'node', profile: 'standard', mqtt: { url: 'mqtt://localhost:1883', keepalive: 30 } };
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  it('defaults < ECPS_CONFIG file < ECPS_* env < options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecps-config-'));
    dirs.push(dir);
    const file = join(dir, 'ecps.json');
    writeFileSync(file, JSON.stringify({ nodeId: 'from-file', profile: 'edge-lite', mqtt: { keepalive: 10 } }));
    const env = { ECPS_CONFIG: file, ECPS_PROFILE: 'cloud-fleet', ECPS_MQTT__KEEPALIVE: '60', ECPS_UNRELATED: 'x' };
    expect(resolveConfig({ defaults, env })).toEqual({
      nodeId: 'from-file',
      profile: 'cloud-fleet',
      mqtt: { url: 'mqtt://localhost:1883', keepalive: 60 },
    });
    expect(resolveConfig({ defaults, env, options: { profile: 'standard', mqtt: { url: 'mqtt://b' } } })).toEqual({
      nodeId: 'from-file',
      profile: 'standard',
      mqtt: { url: 'mqtt://b', keepalive: 60 },
    });
  });
  it('rejects a broken config file with CONFIG_INVALID', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecps-config-'));
    dirs.push(dir);
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{nope');
    expect(() => resolveConfig({ defaults, env: { ECPS_CONFIG: file } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('AsyncQueue', () => {
  it('delivers in order, ends, and fails instead of dropping past its bound', async () => {
    const q = new AsyncQueue<number>(2);
    q.push(1);
    q.push(2);
    q.push(3);
    await expect(q.next()).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    const ok = new AsyncQueue<number>();
    ok.push(1);
    ok.push(2);
    ok.end();
    const seen: number[] = [];
    for await (const v of ok) seen.push(v);
    expect(seen).toEqual([1, 2]);
  });
});
