// SPDX-License-Identifier: Apache-2.0
// Truncation at every byte offset and corruption detection (property tests; garbage: src/eaplog.fuzz.test.ts).
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LocalKeyFileProvider, decodeMessages, encodeEaplog, parseEaplog, pyObject, validateBytes } from './index';
import type { LogFormatOptions } from './index';

const keys = new LocalKeyFileProvider({
  aes: { algorithm: 'aes-256-gcm', key: new Uint8Array(32).fill(7) },
  sig: { algorithm: 'ed25519', key: new Uint8Array(32).fill(9) },
});

const formats: [string, LogFormatOptions][] = [
  ['native plain', {}],
  ['native deflate', { compression: 'deflate' }],
  ['native zstd', { compression: 'zstd' }],
  ['native encrypted + signed', { encryption: { provider: keys, keyId: 'aes' }, signing: { provider: keys, keyId: 'sig', checkpointInterval: 2 } }],
  ['compat 2.1', { mode: 'compat', version: '2.1' }],
  ['compat 1.0', { mode: 'compat', version: '1.0' }],
];

const messages = (n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => Uint8Array.from({ length: 1 + ((i * 37) % 90) }, (_, j) => (i * 31 + j) & 0xff));

/** End offsets of each data message's record in a full log (the message is complete iff cut >= end). */
function messageEnds(full: Uint8Array): number[] {
  const parsed = parseEaplog(full);
  const trailer = parsed.layout === 'ecps-v2' ? 4 : 0;
  return parsed.records.filter((r) => r.kind === 'data').map((r) => r.offset + 4 + r.body.length + trailer);
}

describe('truncation at every byte offset yields exactly the complete records before the cut', () => {
  it.each(formats)('%s', async (_name, options) => {
    const msgs = messages(5);
    const full = await encodeEaplog(msgs, { createdAt: 1750000000, robotId: 'r', sessionId: 's', metadata: pyObject([['k', 'v']]), ...options });
    const ends = messageEnds(full);
    expect(ends).toHaveLength(5);
    const whole = parseEaplog(full);
    const trailer = whole.layout === 'ecps-v2' ? 4 : 0;
    const boundaries = new Set([whole.dataOffset, ...whole.records.map((r) => r.offset + 4 + r.body.length + trailer)]);
    for (let cut = 0; cut <= full.length; cut++) {
      const parsed = parseEaplog(full.subarray(0, cut));
      const expected = ends.filter((e) => e <= cut).length;
      const got = await decodeMessages(parsed, { keyProvider: keys });
      expect({ cut, n: got.length }).toEqual({ cut, n: expected });
      expect(got.map((m) => m.data)).toEqual(msgs.slice(0, expected));
      expect(parsed.corruptions).toEqual([]);
      const complete = cut === full.length || boundaries.has(cut);
      if (!complete && cut > 0) expect(parsed.tornTail).toBeDefined();
    }
  });
});

describe('corruption', () => {
  it('any single-byte change of a native log is detected by validate --strict', async () => {
    const full = await encodeEaplog(messages(6), { signing: { provider: keys, keyId: 'sig', checkpointInterval: 2 } });
    expect((await validateBytes(full, { strict: true })).valid).toBe(true);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: full.length - 1 }), fc.integer({ min: 1, max: 255 }), async (pos, xor) => {
        const damaged = full.slice();
        damaged[pos] = (damaged[pos] as number) ^ xor;
        const report = await validateBytes(damaged, { strict: true });
        expect(report.valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a damaged body before the last record is corruption even without --strict, and later records still read', async () => {
    const msgs = messages(4);
    const full = await encodeEaplog(msgs, {});
    const parsed = parseEaplog(full);
    const second = parsed.records[1];
    if (!second) throw new Error('no record');
    const damaged = full.slice();
    damaged[second.offset + 6] = (damaged[second.offset + 6] as number) ^ 0xff;
    const report = await validateBytes(damaged);
    expect(report.exitCode).toBe(1);
    expect(report.errors[0]).toMatchObject({ index: 1, offset: second.offset });
    const read = await decodeMessages(parseEaplog(damaged));
    expect(read.map((m) => m.data)).toEqual([msgs[0], msgs[2], msgs[3]]);
  });
});

describe('declared sizes', () => {
  it('a huge declared length is rejected, not allocated', () => {
    const bytes = new Uint8Array(4 + 70 * 1024 * 1024 + 8);
    new DataView(bytes.buffer).setUint32(0, 70 * 1024 * 1024, true);
    bytes[4] = 1;
    const parsed = parseEaplog(bytes);
    expect(parsed.corruptions[0]?.reason).toMatch(/exceeds/);
  });
});
