// SPDX-License-Identifier: Apache-2.0
// The eaplog CLI as a child process: every subcommand, its exit codes and its JSON output.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { vectorsDir } from '@ecps/testkit';
import { bundleForTest } from '../test/bundle';
import { runCli } from '../test/run-cli';
import { LocalKeyFileProvider, encodeEaplog, pyObject } from './index';
import { u64le } from './format';

const dir = mkdtempSync(join(tmpdir(), 'eaplog-cli-'));
const bin = join(dir, 'eaplog.mjs');
const vec = (name: string): string => join(vectorsDir(), name);
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const eaplog = (...args: string[]) => runCli(bin, args, { cwd: dir });
const PUBLIC_KEY = '2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12';
const STATE_SHA = 'cdfc239d6493abdc82fd24b5d81863c4432351abcfe990314742720de3592397';

let exampleB: string;
let aesKeyFile: string;

beforeAll(async () => {
  await bundleForTest('src/bin.ts', bin);
  aesKeyFile = join(dir, 'k1.key');
  writeFileSync(aesKeyFile, Uint8Array.from({ length: 32 }, (_, i) => i));
  const keys = new LocalKeyFileProvider({
    k1: { algorithm: 'aes-256-gcm', file: aesKeyFile },
    sign: { algorithm: 'ed25519', key: new Uint8Array(32).fill(0x42) },
  });
  const messages = [readFileSync(vec('eap_set_pose.bin')), readFileSync(vec('eap_gripper.bin'))].map((b) => new Uint8Array(b));
  const bytes = await encodeEaplog(messages, {
    createdAt: 1750000000,
    robotId: 'robot-1',
    sessionId: 'sess-1',
    metadata: pyObject([['k', 'v']]),
    encryption: { provider: keys, keyId: 'k1', nonce: (i) => new Uint8Array([...u64le(i), 0, 0, 0, 0]) },
    signing: { provider: keys, keyId: 'sign', checkpointInterval: 2 },
  });
  exampleB = join(dir, 'example-b.eaplog');
  writeFileSync(exampleB, bytes);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('eaplog info', () => {
  it('prints the header fields (text)', async () => {
    const r = await eaplog('info', vec('v2.1.eaplog'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Version:\s+2\.1/);
    expect(r.stdout).toMatch(/Layout:\s+reference/);
    expect(r.stdout).toMatch(/Data offset:\s+215/);
    expect(r.stdout).toMatch(/Robot ID:\s+robot-1/);
    expect(r.stdout).toMatch(/Messages:\s+2/);
  });

  it('--json reports stacked headers separately', async () => {
    const r = await eaplog('info', vec('remigrated_2.1.eaplog'), '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ version: '2.1', layout: 'reference', message_count: 2, file_size: 732, robot_id: null });
    expect(info.stacked_headers).toHaveLength(1);
    expect(info.stacked_headers[0].header.robot_id).toBe('robot-1');
  });

  it('exit 2 for a missing file, with a clear error', async () => {
    const r = await eaplog('info', join(dir, 'nope.eaplog'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/NOT_FOUND/);
  });
});

describe('eaplog validate', () => {
  it('exit 0 for valid logs, warnings allowed', async () => {
    for (const name of ['v1.0.eaplog', 'v2.1.eaplog', 'remigrated_2.1.eaplog']) expect((await eaplog('validate', vec(name))).code).toBe(0);
  });

  it('--strict turns warnings (legacy format, stacked headers) into exit 1', async () => {
    expect((await eaplog('validate', '--strict', vec('v1.0.eaplog'))).code).toBe(1);
    expect((await eaplog('validate', '--strict', vec('remigrated_2.1.eaplog'))).code).toBe(1);
    expect((await eaplog('validate', '--strict', exampleB)).code).toBe(0);
  });

  it('exit 1 with the offset of a corrupt record; --json', async () => {
    const bytes = readFileSync(exampleB);
    bytes[400] = (bytes[400] as number) ^ 0x01; // inside record 0
    const bad = join(dir, 'bad.eaplog');
    writeFileSync(bad, bytes);
    const r = await eaplog('validate', bad, '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.valid).toBe(false);
    expect(report.errors[0]).toMatchObject({ index: 0, offset: 391 });
  });

  it('--public-key pins the signer', async () => {
    expect((await eaplog('validate', exampleB, '--public-key', PUBLIC_KEY)).code).toBe(0);
    const r = await eaplog('validate', exampleB, '--public-key', 'ab'.repeat(32));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/pinned public key/);
    expect((await eaplog('validate', exampleB, '--public-key', 'xyz')).code).toBe(2);
  });

  it('exit 1 for an unsupported major version', async () => {
    const json = '{"magic":"EAPLOG","version":"3.0"}';
    const file = join(dir, 'v3.eaplog');
    const buf = Buffer.alloc(4 + json.length);
    buf.writeUInt32LE(json.length, 0);
    buf.write(json, 4);
    writeFileSync(file, buf);
    const r = await eaplog('validate', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/unsupported log version/);
  });

  it('exit 2 for usage errors', async () => {
    expect((await eaplog('validate')).code).toBe(2);
    expect((await eaplog('validate', vec('v2.1.eaplog'), '--bogus')).code).toBe(2);
    expect((await eaplog('frobnicate')).code).toBe(2);
  });
});

describe('eaplog verify', () => {
  it('checks GCM tags with --key and decodes every EAP', async () => {
    const r = await eaplog('verify', exampleB, '--key', aesKeyFile, '--public-key', PUBLIC_KEY, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: true, sealed: true, messages: 2 });
  });

  it('exit 1 with a wrong key, or for an unsealed signed log', async () => {
    const wrong = join(dir, 'wrong.key');
    writeFileSync(wrong, new Uint8Array(32));
    expect((await eaplog('verify', exampleB, '--key', wrong)).code).toBe(1);
    const unsealed = join(dir, 'unsealed.eaplog');
    writeFileSync(unsealed, readFileSync(exampleB).subarray(0, 899 - 114));
    const r = await eaplog('verify', unsealed, '--key', aesKeyFile);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/final checkpoint/);
  });
});

describe('eaplog migrate / convert / batch-migrate', () => {
  it('migrate --compat keeps the reference layout and records the migration', async () => {
    copyFileSync(vec('v1.0.eaplog'), join(dir, 'v1.0.eaplog'));
    const r = await eaplog('migrate', 'v1.0.eaplog', 'out-ref.eaplog', '--compat', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sourceVersion: '1.0', targetVersion: '2.1', framing: 'reference', messageCount: 2 });
    const info = JSON.parse((await eaplog('info', 'out-ref.eaplog', '--json')).stdout);
    expect(info.metadata).toMatchObject({ migrated_from_version: '1.0', original_file: 'v1.0.eaplog', message_count: 2 });
    const bytes = readFileSync(join(dir, 'out-ref.eaplog'));
    expect(bytes.subarray(bytes.length - 214 + 0).equals(readFileSync(vec('v1.0.eaplog')))).toBe(true);
  });

  it('migrate to native framing with ids and metadata', async () => {
    const r = await eaplog('migrate', vec('remigrated_2.1.eaplog'), 'out-native.eaplog', '--framing', 'ecps-v2', '--robot-id', 'arm-9', '--metadata', '{"site":"lab","2":1.0}');
    expect(r.code).toBe(0);
    const info = JSON.parse((await eaplog('info', 'out-native.eaplog', '--json')).stdout);
    expect(info).toMatchObject({ layout: 'ecps-v2', robot_id: 'arm-9', session_id: 'sess-1', message_count: 2 });
    expect(Object.keys(info.metadata).slice(0, 3)).toEqual(['2', 'site', 'migrated_from_version']);
    expect(readFileSync(join(dir, 'out-native.eaplog')).toString('latin1')).toContain('{"site":"lab","2":1.0,');
    expect((await eaplog('validate', '--strict', 'out-native.eaplog')).code).toBe(0);
  });

  it('migrate: bad --metadata is a usage error, a missing source is exit 2', async () => {
    expect((await eaplog('migrate', vec('v2.1.eaplog'), 'x.eaplog', '--metadata', '[1]')).code).toBe(2);
    expect((await eaplog('migrate', 'missing.eaplog', 'x.eaplog')).code).toBe(2);
  });

  it('convert writes the latest version', async () => {
    const r = await eaplog('convert', vec('v1.1.eaplog'), 'converted.eaplog', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sourceVersion: '1.1', targetVersion: '2.1' });
  });

  it('batch-migrate keeps names and exits 1 when any file fails', async () => {
    const src = join(dir, 'batch-src');
    mkdirSync(src);
    for (const name of ['v1.0.eaplog', 'v1.1.eaplog', 'v2.0.eaplog']) copyFileSync(vec(name), join(src, name));
    writeFileSync(join(src, 'ignored.txt'), 'x');
    let r = await eaplog('batch-migrate', src, join(dir, 'batch-out'), '--json');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ total: 3, failed: 0 });
    expect(existsSync(join(dir, 'batch-out', 'v1.1.eaplog'))).toBe(true);
    expect(existsSync(join(dir, 'batch-out', 'ignored.txt'))).toBe(false);
    const json = '{"magic":"EAPLOG","version":"9.0"}';
    const buf = Buffer.alloc(4 + json.length);
    buf.writeUInt32LE(json.length, 0);
    buf.write(json, 4);
    writeFileSync(join(src, 'broken.eaplog'), buf);
    r = await eaplog('batch-migrate', src, join(dir, 'batch-out2'));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED broken\.eaplog: UNSUPPORTED_VERSION/);
    expect(r.stdout).toMatch(/3\/4 migrated/);
  });
});

describe('eaplog extract / list', () => {
  it('extract json to stdout: messages only, lowercase hex', async () => {
    const r = await eaplog('extract', vec('remigrated_2.1.eaplog'));
    expect(r.code).toBe(0);
    const items = JSON.parse(r.stdout);
    expect(items).toHaveLength(2);
    expect(items[0]).toEqual({ index: 0, size: 135, data: readFileSync(vec('eap_set_pose.bin')).toString('hex') });
  });

  it('extract binary writes a v1.0 file (needs --output)', async () => {
    expect((await eaplog('extract', vec('v2.1.eaplog'), '--format', 'binary')).code).toBe(2);
    const r = await eaplog('extract', exampleB, '--format', 'binary', '--output', 'plain.bin', '--key', aesKeyFile);
    expect(r.code).toBe(0);
    expect(sha(join(dir, 'plain.bin'))).toBe(sha(vec('v1.0.eaplog')));
  });

  it('extract of an encrypted log without --key fails with exit 1', async () => {
    const r = await eaplog('extract', exampleB);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/KEY_NOT_FOUND/);
  });

  it('list --max and --format json', async () => {
    const text = await eaplog('list', vec('v2.1.eaplog'));
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split('\n')).toHaveLength(2);
    expect(text.stdout).toContain(`test-eap-001\tset_pose\t${STATE_SHA}`);
    const r = await eaplog('list', exampleB, '--max', '1', '--format', 'json', '--key', aesKeyFile);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ index: 0, size: 135, spec: 'eap/0.1', id: 'test-eap-001', action_type: 'set_pose', state_sha: STATE_SHA }]);
    expect((await eaplog('list', vec('v2.1.eaplog'), '--max', 'many')).code).toBe(2);
  });
});

describe('eaplog create / list-versions', () => {
  it('create --version 2.1 --framing reference reproduces the v2.1 header bytes', async () => {
    const r = await eaplog('create', 'c21.eaplog', '--framing', 'reference', '--robot-id', 'robot-1', '--session-id', 'sess-1', '--metadata', '{"k":"v"}', '--created-at', '1750000000.0');
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'c21.eaplog'))).toEqual(readFileSync(vec('v2.1.eaplog')).subarray(0, 215));
  });

  it('create native with encryption and signing headers; 1.0 gives an empty file; existing file is exit 2', async () => {
    const seed = join(dir, 'seed.key');
    writeFileSync(seed, new Uint8Array(32).fill(0x42));
    const r = await eaplog('create', 'cb.eaplog', '--encryption', 'aes-256-gcm', '--key-id', 'k1', '--signing-key', seed, '--checkpoint-interval', '2', '--robot-id', 'robot-1', '--session-id', 'sess-1', '--metadata', '{"k":"v"}', '--created-at', '1750000000', '--json');
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'cb.eaplog')).subarray(0, 4 + 383 + 4)).toEqual(readFileSync(exampleB).subarray(0, 391));
    expect((await eaplog('create', 'empty.eaplog', '--version', '1.0')).code).toBe(0);
    expect(statSync(join(dir, 'empty.eaplog')).size).toBe(0);
    expect((await eaplog('create', 'cb.eaplog')).code).toBe(2);
    expect((await eaplog('create', 'x.eaplog', '--encryption', 'aes-256-gcm')).code).toBe(2);
  });

  it('list-versions', async () => {
    const r = await eaplog('list-versions');
    expect(r.stdout).toBe('1.0\n1.1\n2.0\n2.1 (latest)\n');
    expect(JSON.parse((await eaplog('list-versions', '--json')).stdout)).toEqual({ versions: ['1.0', '1.1', '2.0', '2.1'], latest: '2.1' });
  });
});

describe('eaplog replay', () => {
  it('prints one JSON line per action and checks the state_sha sequence', async () => {
    const hashes = join(dir, 'hashes.txt');
    writeFileSync(hashes, `${STATE_SHA}\n${STATE_SHA}\n`);
    const r = await eaplog('replay', exampleB, '--key', aesKeyFile, '--expect-state-hashes', hashes);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.index, l.id, l.action_type])).toEqual([
      [0, 'test-eap-001', 'set_pose'],
      [1, 'test-eap-002', 'gripper'],
    ]);
  });

  it('exit 1 at the first divergence', async () => {
    const hashes = join(dir, 'hashes-bad.txt');
    writeFileSync(hashes, `${STATE_SHA}\n${'00'.repeat(32)}\n`);
    const r = await eaplog('replay', vec('v2.1.eaplog'), '--expect-state-hashes', hashes);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/divergence at action 1/);
  });

  it('exit 130 when interrupted', async () => {
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [bin, 'replay', vec('v2.1.eaplog'), '--interval-ms', '5000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.once('data', () => child.kill('SIGINT'));
      child.on('close', (c) => resolve(c));
    });
    expect(code).toBe(130);
  });
});
