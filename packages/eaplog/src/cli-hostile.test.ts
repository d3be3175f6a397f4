// SPDX-License-Identifier: Apache-2.0
// The eaplog CLI on files that are damaged, cut short or not logs at all: it says why, exits non-zero, never writes a
// target after dropping input bytes, and `info --json` keeps the header exactly as written.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { vectorsDir } from '@ecps/testkit';
import { bundleForTest } from '../test/bundle';
import { runCli } from '../test/run-cli';
import { encodeEaplog, parseEaplog, pyObject, PyFloat, runEaplogCli } from './index';

/** XORs one byte in place. */
const flip = (bytes: Uint8Array, at: number, mask: number): void => {
  bytes[at] = (bytes[at] as number) ^ mask;
};

const dir = mkdtempSync(join(tmpdir(), 'eaplog-cli-hostile-'));
const bin = join(dir, 'eaplog.mjs');
const vec = (name: string): Uint8Array => new Uint8Array(readFileSync(join(vectorsDir(), name)));
const eaplog = (...args: string[]) => runCli(bin, args, { cwd: dir });
const messages = [vec('eap_set_pose.bin'), vec('eap_gripper.bin')];
const pinned = { createdAt: 1750000000, robotId: 'robot-1', sessionId: 'sess-1', metadata: pyObject([['k', 'v']]) };

/** Runs the CLI in this process (for loops over hundreds of inputs); the child-process tests cover the binary. */
async function inProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runEaplogCli(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

let native: Uint8Array;
let reference: Uint8Array;
beforeAll(async () => {
  await bundleForTest('src/bin.ts', bin);
  native = await encodeEaplog(messages, pinned);
  reference = vec('v1.1.eaplog');
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, bytes: Uint8Array): string => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};

describe('validate: files that are not action logs', () => {
  it.each([
    ['empty', new Uint8Array(0), /empty/],
    ['random bytes', Uint8Array.from({ length: 1000 }, (_, i) => (i * 167 + 13) & 0xff), /not an action log/],
    ['text', new TextEncoder().encode('just some text\n'), /not an action log/],
  ])('%s: exit 1 with the reason', async (name, bytes, reason) => {
    const r = await eaplog('validate', file(`${name}.bin`, bytes));
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(reason);
    expect(r.stdout).not.toMatch(/\bvalid \(/);
  });

  it('a cut-off header: exit 1, names the header', async () => {
    const r = await eaplog('validate', file('cut-header.eaplog', reference.subarray(0, 120)), '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.valid).toBe(false);
    expect(report.errors[0].reason).toMatch(/header/);
  });
});

describe('migrate and convert refuse a source they cannot read fully', () => {
  it.each([
    ['native', () => native],
    ['reference 1.1', () => reference],
  ])('%s: every truncation exits 0 only when nothing was dropped, and leaves no target otherwise', async (_name, source) => {
    const full = source();
    const whole = parseEaplog(full);
    const trailer = whole.layout === 'ecps-v2' ? 4 : 0;
    const boundaries = new Set([whole.dataOffset, ...whole.records.map((r) => r.offset + 4 + r.body.length + trailer)]);
    for (let cut = 0; cut <= full.length; cut++) {
      const src = file('cut.eaplog', full.subarray(0, cut));
      for (const command of ['migrate', 'convert']) {
        const target = join(dir, `cut-out-${command}.eaplog`);
        rmSync(target, { force: true });
        const r = await inProcess(command, src, target);
        const readable = boundaries.has(cut);
        expect({ cut, command, code: r.code }).toEqual({ cut, command, code: readable ? 0 : 1 });
        expect({ cut, command, target: existsSync(target) }).toEqual({ cut, command, target: readable });
        if (!readable) expect(r.stderr).toMatch(/offset \d+/);
      }
    }
  }, 120_000);

  it('the binary behaves the same (sampled truncations, child processes)', async () => {
    const cuts = [0, 3, 10, 100, 214, 216, 300, native.length - 1];
    for (const cut of cuts) {
      const src = file(`child-cut-${cut}.eaplog`, native.subarray(0, cut));
      const target = join(dir, `child-out-${cut}.eaplog`);
      const r = await eaplog('migrate', src, target);
      expect({ cut, code: r.code, target: existsSync(target) }).toEqual({ cut, code: 1, target: false });
      expect(r.stderr).toMatch(/^eaplog: LOG_CORRUPT: .*offset \d+/m);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    const whole = await eaplog('convert', file('whole.eaplog', native), join(dir, 'whole-out.eaplog'));
    expect(whole.code).toBe(0);
  });

  it('random bytes and an empty file are refused', async () => {
    for (const [name, bytes] of [['rnd', Uint8Array.from({ length: 300 }, (_, i) => (i * 91) & 0xff)], ['empty', new Uint8Array(0)]] as const) {
      const r = await eaplog('convert', file(`${name}.src`, bytes), join(dir, `${name}.out`));
      expect(r.code).toBe(1);
      expect(existsSync(join(dir, `${name}.out`))).toBe(false);
    }
  });
});

describe('damaged native logs', () => {
  it('extract warns and exits 1 when it skips a record that fails its CRC', async () => {
    const bytes = native.slice();
    const first = parseEaplog(native).records[0]!;
    flip(bytes, first.offset + 20, 0x40);
    const r = await eaplog('extract', file('crc.eaplog', bytes), '--json');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/record 0 .*CRC.*offset 239/);
    expect(JSON.parse(r.stdout)).toEqual([{ index: 0, size: 71, data: Buffer.from(messages[1]!).toString('hex') }]);
  });

  it('extract on a log whose header lost one bit: exit 1, never the header as a message', async () => {
    const bytes = native.slice();
    flip(bytes, 10, 0x01); // inside "magic"
    const r = await eaplog('extract', file('hdr.eaplog', bytes));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/LOG_CORRUPT/);
    expect(r.stdout).toBe('');
    expect((await eaplog('validate', join(dir, 'hdr.eaplog'))).code).toBe(1);
  });
});

describe('info --json, list --json, extract --json', () => {
  it('info --json keeps metadata key order and ints vs floats', async () => {
    const metadata = pyObject([['z', 1n], ['2', new PyFloat(1)], ['a', new PyFloat(2.5)], ['big', 12345678901234567890n]]);
    const path = file('meta.eaplog', await encodeEaplog(messages, { ...pinned, metadata }));
    const r = await eaplog('info', path, '--json');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"metadata":{"z":1,"2":1.0,"a":2.5,"big":12345678901234567890}');
    expect(r.stdout).toContain('"created_at":1750000000.0');
    expect(JSON.parse(r.stdout)).toMatchObject({ message_count: 2, layout: 'ecps-v2' });
  });

  it('--json is accepted by list and extract', async () => {
    const path = file('json.eaplog', native);
    const list = await eaplog('list', path, '--json');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toHaveLength(2);
    const extract = await eaplog('extract', path, '--json');
    expect(extract.code).toBe(0);
    expect(JSON.parse(extract.stdout)).toHaveLength(2);
  });
});

describe('usage errors', () => {
  it('exit 2, a one-line message and a hint on stderr, nothing on stdout', async () => {
    const path = file('usage.eaplog', native);
    for (const args of [['extract', path, '--format', 'binary'], ['validate', path, '--bogus'], ['list', path, '--max', 'many'], ['frobnicate']]) {
      const r = await eaplog(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[1]).toMatch(/^hint: see 'eaplog .*--help'$/);
    }
  });
});

describe('output into a closed pipe', () => {
  it('extract | head ends quietly: no EPIPE stack trace', () => {
    return (async () => {
      const many = await encodeEaplog(Array.from({ length: 5000 }, () => messages[0] as Uint8Array), pinned);
      const path = file('many.eaplog', many);
      const r = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${bin}" extract "${path}" | head -c 100 >/dev/null`], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
    })();
  });
});

describe('durable writes', () => {
  it('migrate fsyncs the new file and, after the rename, its directory', () => {
    const src = file('durable-src.eaplog', native);
    const outDir = mkdtempSync(join(dir, 'durable-'));
    const target = join(outDir, 'out.eaplog');
    const trace = join(dir, 'strace.txt');
    // -y prints the path of each descriptor, so the fsync of the directory is visible by name
    execFileSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', trace, process.execPath, bin, 'migrate', src, target]);
    const lines = readFileSync(trace, 'utf8').split('\n');
    const renamed = lines.findIndex((l) => /rename/.test(l) && l.includes(target));
    expect(renamed).toBeGreaterThan(0);
    expect(lines.slice(0, renamed).some((l) => /f(data)?sync\(\d+<[^>]*\.tmp/.test(l))).toBe(true);
    expect(lines.slice(renamed).some((l) => new RegExp(`fsync\\(\\d+<${outDir}>\\)`).test(l))).toBe(true);
  });
});
