// SPDX-License-Identifier: Apache-2.0
// Reading, validating, migrating and reopening a log take memory independent of its size: the same command on an
// 8 MiB and on a 48 MiB log must retain nearly the same amount at its peak (sampled after forced collections, see
// test/measure-memory.ts). Reading the file whole, as these commands did before, retains the 40 MiB difference (more
// than the 16 MiB allowed), and 48 MiB on its own (more than the 32 MiB allowed).
// A 2 GiB run with figures (peak RSS included) is in bench/.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bundleForTest } from '../test/bundle';
import { EAP } from '@ecps/proto';
import { encodeEaplog } from './index';

const dir = mkdtempSync(join(tmpdir(), 'eaplog-memory-'));
const script = join(dir, 'measure.mjs');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An EAP cloud action of about 1 KiB. */
const action = (i: number): Uint8Array =>
  EAP.encode({
    spec: 'eap/0.1',
    id: `action-${i}`,
    stateSha: new Uint8Array(32).fill(i & 0xff),
    body: { $case: 'cloud', value: { apiName: 'store', methodName: 'put', jsonPayload: new TextEncoder().encode(JSON.stringify({ pad: 'x'.repeat(900) })), requiresOauth2: false } },
    meta: {},
  }).finish();

/** A native log of about `mib` MiB: a header, then the same 1 MiB block of ~1 KiB EAP records repeated. */
async function bigLog(name: string, mib: number): Promise<string> {
  const block = await encodeEaplog(Array.from({ length: 1000 }, (_, i) => action(i)), { createdAt: 1 });
  const header = await encodeEaplog([], { createdAt: 1 });
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
    const records = block.subarray(header.length);
    for (let i = 0; i < mib; i++) writeSync(fd, records);
  } finally {
    closeSync(fd);
  }
  return path;
}

function measure(...args: string[]): { code: number; retainedKiB: number; maxRssKiB: number } {
  const child = spawnSync(process.execPath, ['--expose-gc', script, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (child.status !== 0) throw new Error(`measure ${args.join(' ')} failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) as string);
}

let small: string;
let large: string;
beforeAll(async () => {
  await bundleForTest('test/measure-memory.ts', script);
  small = await bigLog('small.eaplog', 8);
  large = await bigLog('large.eaplog', 48);
}, 120_000);

describe('constant memory in the size of the log', () => {
  it.each([
    ['validate', ['cli', 'validate']],
    ['info', ['cli', 'info', '--json']],
    ['migrate', ['cli', 'migrate']],
    ['EaplogWriter.open + append', ['append']],
  ])('%s', (name, command) => {
    const run = (log: string): { code: number; retainedKiB: number; maxRssKiB: number } => {
      const target = join(dir, 'migrated.eaplog');
      const result = measure(...command, log, ...(name === 'migrate' ? [target] : []));
      rmSync(target, { force: true });
      return result;
    };
    const a = run(small);
    const b = run(large);
    expect([a.code, b.code]).toEqual([0, 0]);
    const mib = (kib: number): number => Math.round(kib / 1024);
    process.stderr.write(
      `memory ${name}: retained ${mib(a.retainedKiB)} MiB for an 8 MiB log, ${mib(b.retainedKiB)} MiB for 48 MiB (peak RSS ${mib(a.maxRssKiB)} / ${mib(b.maxRssKiB)} MiB)\n`,
    );
    expect(b.retainedKiB / 1024).toBeLessThan(32);
    expect((b.retainedKiB - a.retainedKiB) / 1024).toBeLessThan(16);
  }, 60_000);
});
