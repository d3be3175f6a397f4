// SPDX-License-Identifier: Apache-2.0
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { vectorsDir } from '@ecps/testkit';
import { fromHex, toHex } from '@ecps/core';
import { EaplogWriter, LocalKeyFileProvider, decodeMessages, encodeEaplog, migrateBytes, parseEaplog, pyObject, runEaplogCli, validateBytes, zstdImplementation } from './index';
import { crc32 } from './crc32';
import { u32le, u64le } from './format';

const vector = (name: string): Uint8Array => new Uint8Array(readFileSync(join(vectorsDir(), name)));
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const setPose = vector('eap_set_pose.bin');
const gripper = vector('eap_gripper.bin');
const pinned = { createdAt: 1750000000.0, robotId: 'robot-1', sessionId: 'sess-1', metadata: pyObject([['k', 'v']]) };
const pinnedClock = { now: () => 1750000000000, nowNs: () => 0n, monotonic: () => 0, setTimeout: () => 0, clearTimeout: () => undefined };

describe('reference vectors', () => {
  it.each([
    ['v1.0.eaplog', '1.0', 'v1.0', 0],
    ['v1.1.eaplog', '1.1', 'reference', 215],
    ['v2.0.eaplog', '2.0', 'reference', 215],
    ['v2.1.eaplog', '2.1', 'reference', 215],
  ] as const)('%s reads as version %s with two messages', async (name, version, layout, dataOffset) => {
    const parsed = parseEaplog(vector(name));
    expect(parsed.version).toBe(version);
    expect(parsed.layout).toBe(layout);
    expect(parsed.dataOffset).toBe(dataOffset);
    expect(parsed.stackedHeaders).toHaveLength(0);
    expect(parsed.tornTail).toBeUndefined();
    const messages = await decodeMessages(parsed);
    expect(messages.map((m) => m.data)).toEqual([setPose, gripper]);
    if (version !== '1.0') {
      expect(parsed.fields).toMatchObject({ createdAt: 1750000000, sdkVersion: '1.0.0', robotId: 'robot-1', sessionId: 'sess-1', compression: 'none', encryption: 'none' });
      expect(parsed.header?.get('checksum_type')).toBe('crc32');
      expect([...(parsed.fields?.metadata ?? [])]).toEqual([['k', 'v']]);
    }
  });

  it.each(['1.0', '1.1', '2.0', '2.1'] as const)('the compat writer reproduces v%s.eaplog byte for byte', async (version) => {
    const bytes = await encodeEaplog([setPose, gripper], { mode: 'compat', version, ...pinned });
    expect(sha(bytes)).toBe(sha(vector(`v${version}.eaplog`)));
  });

  it('reads migrated_1.0_to_2.1.eaplog with null ids and the migration metadata', async () => {
    const parsed = parseEaplog(vector('migrated_1.0_to_2.1.eaplog'));
    expect(parsed.version).toBe('2.1');
    expect(parsed.headerJson?.length).toBe(299);
    expect(parsed.fields?.robotId).toBeNull();
    expect(parsed.fields?.sessionId).toBeNull();
    expect([...(parsed.fields?.metadata.keys() ?? [])]).toEqual(['migrated_from_version', 'migrated_at', 'original_file', 'message_count']);
    expect(parsed.fields?.metadata.get('message_count')).toBe(2n);
    expect((await decodeMessages(parsed)).length).toBe(2);
  });

  it('the compat migrator reproduces migrated_1.0_to_2.1.eaplog', async () => {
    const { bytes } = await migrateBytes(vector('v1.0.eaplog'), 'v1.0.eaplog', { clock: pinnedClock });
    expect(sha(bytes)).toBe('13f6d3e5b540ad6e41ca0794efcd0122eeea0f67534a24b97d85e456e57d19d1');
  });

  it('remigrated_2.1.eaplog has one stacked header and two messages, never three', async () => {
    const parsed = parseEaplog(vector('remigrated_2.1.eaplog'));
    expect(parsed.version).toBe('2.1');
    expect(parsed.headerJson?.length).toBe(299);
    expect(parsed.fields?.metadata.get('message_count')).toBe(3n);
    expect(parsed.fields?.metadata.get('original_file')).toBe('v2.1.eaplog');
    expect(parsed.stackedHeaders).toHaveLength(1);
    expect(parsed.stackedHeaders[0]?.size).toBe(211);
    expect(parsed.stackedHeaders[0]?.header.get('robot_id')).toBe('robot-1');
    const messages = await decodeMessages(parsed);
    expect(messages.map((m) => m.data)).toEqual([setPose, gripper]);
    const report = await validateBytes(vector('remigrated_2.1.eaplog'));
    expect(report.exitCode).toBe(0);
    expect(report.warnings.join()).toContain('stacked');
  });

  it('migrating remigrated_2.1.eaplog gives the §6.7 example (897 bytes)', async () => {
    const { bytes } = await migrateBytes(vector('remigrated_2.1.eaplog'), 'remigrated_2.1.eaplog', { clock: pinnedClock });
    expect(bytes.length).toBe(897);
    expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(679);
    expect(sha(bytes)).toBe('85db7edb1b99a93c9ce8884f68d0c8dfdc58507d8c397e2cd49a13c619912e1b');
  });
});

describe('native framing worked examples (§6.4)', () => {
  it('Example A: plain, 463 bytes', async () => {
    const bytes = await encodeEaplog([setPose, gripper], pinned);
    expect(bytes.length).toBe(463);
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(0, true)).toBe(231);
    expect(view.getUint32(235, true)).toBe(0xf6e15b89);
    expect(sha(bytes)).toBe('4a06e0732c990b031d99052239b67d482f59c5d6b3ca337e077a8e15aa1ddbf0');
    const parsed = parseEaplog(bytes);
    expect(parsed.layout).toBe('ecps-v2');
    expect(parsed.records.map((r) => [r.body.length, crc32(r.body)])).toEqual([
      [136, 0x53be8ae8],
      [72, 0xed9bce44],
    ]);
    expect((await decodeMessages(parsed)).map((m) => m.data)).toEqual([setPose, gripper]);
  });

  it('Example B: aes-256-gcm + ed25519-chain, 899 bytes', async () => {
    const keys = new LocalKeyFileProvider({
      k1: { algorithm: 'aes-256-gcm', key: Uint8Array.from({ length: 32 }, (_, i) => i) },
      sign: { algorithm: 'ed25519', key: new Uint8Array(32).fill(0x42) },
    });
    const bytes = await encodeEaplog([setPose, gripper], {
      ...pinned,
      encryption: { provider: keys, keyId: 'k1', nonce: (i) => new Uint8Array([...u64le(i), 0, 0, 0, 0]) },
      signing: { provider: keys, keyId: 'sign', checkpointInterval: 2 },
    });
    const parsed = parseEaplog(bytes);
    expect(parsed.headerJson?.length).toBe(383);
    expect(parsed.fields?.signingKey).toBe('2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12');
    expect(parsed.records.map((r) => [r.kind, r.body.length, crc32(r.body)])).toEqual([
      ['data', 164, 0x10733ce0],
      ['data', 100, 0x432d97a2],
      ['checkpoint', 106, 0xdeb1a397],
      ['checkpoint', 106, 0xc63b4f6f],
    ]);
    expect(bytes.length).toBe(899);
    expect(sha(bytes)).toBe('f13a03d05dcad8a87753493430cf716e5157c341c9832a441bee6b3ead7916f3');
    expect((await decodeMessages(parsed, { keyProvider: keys })).map((m) => m.data)).toEqual([setPose, gripper]);
    const report = await validateBytes(bytes, { strict: true, publicKey: '2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12' });
    expect(report).toMatchObject({ valid: true, signed: true, sealed: true, checkpoints: 2 });
    const verified = await validateBytes(bytes, { verify: true, keyProvider: keys });
    expect(verified.errors).toEqual([]);
  });
});

describe('magic-first layout', () => {
  it('reads EAPLOG ‖ u32le(n) ‖ json and never returns the header as a message', async () => {
    const json = new TextEncoder().encode('{"magic":"EAPLOG","version":"2.1","created_at":1750000000}');
    const bytes = new Uint8Array([...new TextEncoder().encode('EAPLOG'), ...u32le(json.length), ...json, ...u32le(setPose.length), ...setPose]);
    const parsed = parseEaplog(bytes);
    expect(parsed.layout).toBe('magic-first');
    expect(parsed.version).toBe('2.1');
    expect(parsed.dataOffset).toBe(10 + json.length);
    expect((await decodeMessages(parsed)).map((m) => toHex(m.data))).toEqual([toHex(setPose)]);
    expect(fromHex(toHex(setPose))).toEqual(setPose);
  });
});

describe('version rules (§6.2)', () => {
  const withHeader = (json: string, extra: Uint8Array = new Uint8Array(0)): Uint8Array => {
    const bytes = new TextEncoder().encode(json);
    return new Uint8Array([...u32le(bytes.length), ...bytes, ...extra]);
  };
  it('reads an unknown minor as the highest known minor of its major, with a warning', () => {
    const p2 = parseEaplog(withHeader('{"magic":"EAPLOG","version":"2.7"}'));
    expect([p2.version, p2.declaredVersion]).toEqual(['2.1', '2.7']);
    expect(p2.warnings.join()).toMatch(/unknown version 2\.7/);
    expect(parseEaplog(withHeader('{"magic":"EAPLOG","version":"1.9"}')).version).toBe('1.1');
  });

  it('rejects an unknown major, compression in reference framing, native framing with a 1.x version', () => {
    expect(() => parseEaplog(withHeader('{"magic":"EAPLOG","version":"3.0"}'))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }));
    expect(() => parseEaplog(withHeader('{"magic":"EAPLOG","version":"2.1","compression":"deflate"}'))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    const json = '{"magic":"EAPLOG","version":"1.1","framing":"ecps-v2"}';
    expect(() => parseEaplog(withHeader(json, u32le(crc32(new TextEncoder().encode(json)))))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }));
  });

  it('a header that does not parse as JSON is LOG_CORRUPT at offset 0, never a v1.0 file', () => {
    expect(() => parseEaplog(withHeader('{"magic":"EAPLOG","version":2.1,'))).toThrow(expect.objectContaining({ code: 'LOG_CORRUPT', details: { offset: 0 } }));
  });

  it('the Go writer\'s integer created_at is accepted', () => {
    expect(parseEaplog(withHeader('{"magic":"EAPLOG","version":"2.1","created_at":1750000000}')).fields?.createdAt).toBe(1750000000);
  });
});

describe('header extensions (keys a newer writer adds)', () => {
  it('are kept in fields.extensions, ignored for reading, and left byte for byte by an appending writer', async () => {
    const plain = await encodeEaplog([setPose, gripper], pinned);
    const head = parseEaplog(plain);
    const json = new TextDecoder().decode(head.headerJson);
    const extended = new TextEncoder().encode(`${json.slice(0, -1)},"kms":{"provider":"example","wrapped_key":"00ff","v":2}}`);
    const header = new Uint8Array([...u32le(extended.length), ...extended, ...u32le(crc32(extended))]);
    const bytes = new Uint8Array([...header, ...plain.subarray(head.dataOffset)]);
    const parsed = parseEaplog(bytes);
    expect([...(parsed.fields?.extensions?.keys() ?? [])]).toEqual(['kms']);
    expect((await decodeMessages(parsed)).map((m) => m.data)).toEqual([setPose, gripper]);
    expect((await validateBytes(bytes, { strict: true })).valid).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), 'eaplog-ext-'));
    try {
      const path = join(dir, 'ext.eaplog');
      writeFileSync(path, bytes);
      const writer = await EaplogWriter.open(path);
      await writer.append(setPose);
      await writer.close();
      const after = new Uint8Array(readFileSync(path));
      expect(after.subarray(0, header.length)).toEqual(header);
      expect((await validateBytes(after, { strict: true })).messages).toBe(3);
      let out = '';
      expect(await runEaplogCli(['info', path, '--json'], { stdout: (t) => void (out += t) })).toBe(0);
      expect(out).toContain('"kms":{"provider":"example","wrapped_key":"00ff","v":2}');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a known key of the wrong type is UNSUPPORTED, not silently "none"', () => {
    const json = new TextEncoder().encode('{"magic":"EAPLOG","version":"2.1","compression":5}');
    expect(() => parseEaplog(new Uint8Array([...u32le(json.length), ...json]))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
  });
});

describe('compression', () => {
  it('deflate and zstd round-trip; zstd frames carry their content size', async () => {
    const deflated = await encodeEaplog([setPose, gripper], { compression: 'deflate' });
    expect((await decodeMessages(parseEaplog(deflated))).map((m) => m.data)).toEqual([setPose, gripper]);
    expect(await zstdImplementation()).toBeDefined(); // node:zlib on Node >= 22.15, else @mongodb-js/zstd
    const z = await encodeEaplog([setPose, gripper], { compression: 'zstd' });
    const parsed = parseEaplog(z);
    const frame = parsed.records[0]?.body.subarray(1) as Uint8Array;
    expect(new DataView(frame.buffer, frame.byteOffset).getUint32(0, true)).toBe(0xfd2fb528);
    expect((frame[4] as number) >> 6).not.toBe(0); // Frame_Content_Size present
    expect((await decodeMessages(parsed)).map((m) => m.data)).toEqual([setPose, gripper]);
    await expect(decodeMessages(parsed, { maxRecordBytes: 100 })).rejects.toMatchObject({ code: 'DECODE_ERROR' });
  });

  it('a decompression bomb is capped by maxRecordBytes', async () => {
    const big = await encodeEaplog([new Uint8Array(1 << 20)], { compression: 'deflate' });
    await expect(decodeMessages(parseEaplog(big), { maxRecordBytes: 1000 })).rejects.toMatchObject({ code: 'DECODE_ERROR' });
  });
});
